"""The NAB scoring rule on hand-worked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aitl.sim import anomaly_score as nab

STANDARD = nab.PROFILES["standard"]


def detected(length: int, *at: int) -> np.ndarray:
    flags = np.zeros(length, dtype=bool)
    flags[list(at)] = True
    return flags


def test_windows_share_ten_percent_of_the_series_and_merge_when_they_overlap():
    assert nab.windows(1000, [500]) == [(450, 550)]
    assert nab.windows(1000, [100, 700]) == [(75, 125), (675, 725)]
    assert nab.windows(1000, [0, 990]) == [(0, 25), (965, 999)]  # clipped to the series
    assert nab.windows(100, [50, 52]) == [(48, 54)]  # overlapping: one window
    assert nab.windows(100, []) == []


def test_the_scaled_sigmoid():
    assert nab.scaled_sigmoid(-1) == pytest.approx(2 / (1 + math.exp(-5)) - 1)  # 0.9866
    assert nab.scaled_sigmoid(0) == 0
    assert nab.scaled_sigmoid(0.5) == pytest.approx(2 / (1 + math.exp(2.5)) - 1)
    assert nab.scaled_sigmoid(3.5) == -1


def test_early_detection_scores_more_and_only_the_first_in_a_window_counts():
    spans = [(40, 59)]  # 20 samples
    early = nab.raw_score(detected(100, 40), spans, STANDARD)
    late = nab.raw_score(detected(100, 55), spans, STANDARD)
    assert early == pytest.approx(nab.scaled_sigmoid(-1))
    assert late == pytest.approx(nab.scaled_sigmoid(-5 / 20))
    assert nab.raw_score(detected(100, 40, 41, 50), spans, STANDARD) == pytest.approx(early)


def test_false_positives_cost_by_where_they_fall_and_misses_cost_one():
    spans = [(40, 59)]
    assert nab.raw_score(detected(100, 10), spans, STANDARD) == pytest.approx(-0.11 - 1)
    just_after = nab.raw_score(detected(100, 60, 45), spans, STANDARD)
    assert just_after == pytest.approx(nab.scaled_sigmoid(-15 / 20) + 0.11 * nab.scaled_sigmoid(1 / 20))
    far_after = nab.raw_score(detected(100, 45, 99), spans, STANDARD)
    assert far_after < just_after
    assert nab.raw_score(detected(100), spans, STANDARD) == -1


def test_normalised_score_is_100_for_perfect_and_0_for_none():
    corpus = [nab.Labelled(1000, (300, 700)), nab.Labelled(500, (250,))]
    spans = [nab.windows(c.length, c.anomalies) for c in corpus]
    perfect = [detected(c.length, *[s for s, _ in w]) for c, w in zip(corpus, spans, strict=True)]
    assert nab.normalised(corpus, perfect) == pytest.approx(100)
    assert nab.normalised(corpus, [detected(c.length) for c in corpus]) == pytest.approx(0)
    noisy = [p | detected(len(p), 10) for p in perfect]
    assert 0 < nab.normalised(corpus, noisy) < 100
    assert nab.normalised(corpus, noisy, nab.PROFILES["reward_low_fp"]) < nab.normalised(corpus, noisy)
