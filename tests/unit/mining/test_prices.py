"""The price table: refused when malformed, applied only where no cost is reported, summed into rollups."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from aitl.config import ConfigError
from aitl.ingest.contract import validate
from aitl.mining.prices import PRICES_ENV, Price, load_prices, model_prices
from aitl.mining.rollups import rollup_frame
from tests.factories import event

TABLE = '[models."nova-mid"]\ninput_per_mtok = 1.0\noutput_per_mtok = 5.0\n'


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[models", "prices.toml"),  # not TOML
        ('[models."a"]\ninput_per_mtok = 1.0\n', "'a' needs exactly input_per_mtok, output_per_mtok"),
        ('[models."a"]\ninput_per_mtok = -1.0\noutput_per_mtok = 1.0\n', "'a' input_per_mtok"),
        ('[models."a"]\ninput_per_mtok = true\noutput_per_mtok = 1.0\n', "'a' input_per_mtok"),
        ('currency = "EUR"\n', 'only [models."<name>"] tables'),
    ],
)
def test_a_malformed_price_table_is_refused_naming_what_is_wrong(tmp_path, text, named):
    path = tmp_path / "prices.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=PRICES_ENV) as error:
        load_prices(path)
    assert named in str(error.value)


def test_no_table_prices_nothing(monkeypatch):
    monkeypatch.delenv(PRICES_ENV, raising=False)
    assert model_prices() == {}


def test_tokens_are_priced_only_where_no_cost_is_reported(tmp_path, monkeypatch):
    path = tmp_path / "prices.toml"
    path.write_text(TABLE)
    monkeypatch.setenv(PRICES_ENV, str(path))
    assert model_prices() == {"nova-mid": Price(1.0, 5.0)}
    hour = datetime(2026, 11, 20, 5, tzinfo=UTC)
    rows = [
        event(hour, model="nova-mid", cost_usd=0.5, success=True),  # reported: kept
        event(hour, model="nova-mid", cost_usd=None, tokens_in=1000, tokens_out=200, success=True),  # 0.002
        event(hour, model="nova-mid", cost_usd=None, tokens_in=3000, tokens_out=400, success=False),  # 0.005
        event(hour, model="nova-mid", cost_usd=None, tokens_in=None, success=True),  # no tokens: no cost
        event(hour, model="atlas-large", cost_usd=None, success=True),  # no price: no cost
    ]
    events = pd.DataFrame([validate(r) for r in rows]).rename(columns={"timestamp": "ts"})
    events["ts"] = pd.to_datetime(events["ts"], utc=True)
    rollups = rollup_frame(events).set_index("model")
    nova, large = rollups.loc["nova-mid"], rollups.loc["atlas-large"]
    assert (nova["n"], nova["cost_n"], nova["cost_successes"]) == (4, 3, 2)
    assert nova["cost_sum"] == pytest.approx(0.507)
    assert nova["cost_sumsq"] == pytest.approx(0.25 + 0.002**2 + 0.005**2)
    assert nova["cost_success_sum"] == pytest.approx(0.502)
    assert (large["cost_n"], large["cost_sum"], large["cost_successes"]) == (0, 0.0, 0)
