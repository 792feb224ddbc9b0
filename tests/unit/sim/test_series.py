"""The messy-series generators produce what they promise, reproducibly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aitl.sim import series as gen


def test_a_seed_reproduces_a_series_and_its_mess():
    first, second = (gen.FAMILIES["traffic"](np.random.default_rng(3)) for _ in range(2))
    assert first.series.equals(second.series) and first.anomalies == second.anomalies
    rows = [gen.messy(np.random.default_rng(4), first.series) for _ in range(2)]
    assert rows[0].equals(rows[1])


def test_day_night_volume_and_binomial_rates():
    labelled = gen.rate_series(np.random.default_rng(1), days=28, mean_volume=100, base=0.75)
    hours = labelled.series.index.hour
    weekday = labelled.series.index.day_of_week < 5
    night = labelled.volume[weekday & (hours == 3)].mean()
    afternoon = labelled.volume[weekday & (hours == 15)].mean()
    assert night == pytest.approx(100 * (1 - 0.8), rel=0.2)  # the trough of the default 0.8 amplitude
    assert afternoon / night > 5
    assert labelled.series.mean() == pytest.approx(0.75, abs=0.01)
    # Quiet hours are noisier: the binomial SD shrinks with the volume.
    assert labelled.series[hours == 3].std() > 2 * labelled.series[hours == 15].std()


def test_planters_label_what_they_change():
    rng = np.random.default_rng(2)
    labelled = gen.metric_series(rng, days=14, noise=0.02)
    before = labelled.series.copy()
    gen.plant_spikes(rng, labelled, count=3, sigmas=(8, 10))
    gen.plant_level_shift(rng, labelled, sigmas=(6, 8))
    changed = labelled.series.to_numpy() != before.to_numpy()
    spikes, shift = labelled.anomalies[:3], labelled.anomalies[3][0]
    assert len(labelled.anomalies) == 4
    for at, end in spikes:
        assert at == end and changed[labelled.series.index.get_loc(at)]
    assert changed[labelled.series.index.get_loc(shift) :].all()
    assert labelled.anomalous().sum() == 4
    rate = gen.rate_series(rng, days=7)
    gen.plant_bad_hours(rng, rate, [100], success=0.35, volume=2.0)
    assert rate.series.iloc[100] < 0.55 and rate.anomalies == [
        (rate.series.index[100], rate.series.index[100])
    ]
    with pytest.raises(ValueError, match="rate series"):
        gen.plant_bad_hours(rng, labelled, [1], success=0.35, volume=2.0)


def test_messy_exports_have_every_kind_of_trouble():
    labelled = gen.metric_series(np.random.default_rng(5), days=14, interval="15min")
    rows = gen.messy(np.random.default_rng(6), labelled.series, unreadable=0.01)
    stamps = pd.to_datetime(rows["timestamp"])
    assert len(rows) < len(labelled.series)  # lost samples and an outage outweigh the duplicates
    assert stamps.duplicated().sum() > 0
    assert not stamps.is_monotonic_increasing
    assert (rows["value"] == "null").sum() > 0
    steps = stamps.sort_values().diff().dropna()
    assert steps.max() >= pd.Timedelta(minutes=30) and steps.min() < pd.Timedelta(minutes=15)
