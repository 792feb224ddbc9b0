"""What a model's tokens cost, for events that report tokens but no ``cost_usd``.

Cost per success is a decision metric (experiment guardrail, model choice).
Many sources report token counts but not the price: a price table turns them
into a cost. It is a TOML file named by ``AITL_MODEL_PRICES``, in USD per
million tokens::

    [models."gpt-4o"]
    input_per_mtok = 2.50
    output_per_mtok = 10.00

A reported ``cost_usd`` always wins; an event of a model not in the table (or
without token counts) has no cost. Prices are applied when an hour is
summarised, so each hour keeps the prices in force then; summarising it again
(``aitl run`` over it) applies today's.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from aitl.config import ConfigError

PRICES_ENV = "AITL_MODEL_PRICES"
FIELDS = ("input_per_mtok", "output_per_mtok")


@dataclass(frozen=True)
class Price:
    """USD per million input and output tokens."""

    input_per_mtok: float
    output_per_mtok: float


def load_prices(path: Path) -> dict[str, Price]:
    """The price table of a TOML file; a malformed one is refused with the model and key it concerns."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{PRICES_ENV} {path}: {exc}") from None
    models = document.get("models", {})
    if not isinstance(models, dict) or set(document) - {"models"}:
        raise ConfigError(f'{PRICES_ENV} {path}: expected only [models."<name>"] tables')
    prices = {}
    for model, entry in models.items():
        if not isinstance(entry, dict) or set(entry) != set(FIELDS):
            raise ConfigError(f"{PRICES_ENV} {path}: model {model!r} needs exactly {', '.join(FIELDS)}")
        for key in FIELDS:
            value = entry[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
                raise ConfigError(f"{PRICES_ENV} {path}: {model!r} {key} must be a non-negative number")
        prices[model] = Price(float(entry["input_per_mtok"]), float(entry["output_per_mtok"]))
    return prices


def model_prices() -> dict[str, Price]:
    """The deployment's price table (``AITL_MODEL_PRICES``), or none."""
    path = os.environ.get(PRICES_ENV)
    return load_prices(Path(path)) if path else {}


def priced_cost(
    models: pd.Series, tokens_in: pd.Series, tokens_out: pd.Series, prices: dict[str, Price]
) -> pd.Series:
    """Each event's tokens at its model's price; NaN without a price or without either token count."""
    if not prices:
        return pd.Series(np.nan, index=models.index)
    per_in = models.map({m: p.input_per_mtok for m, p in prices.items()}).astype(float)
    per_out = models.map({m: p.output_per_mtok for m, p in prices.items()}).astype(float)
    return (tokens_in.astype(float) * per_in + tokens_out.astype(float) * per_out) / 1e6
