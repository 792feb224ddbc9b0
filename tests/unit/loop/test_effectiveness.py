"""The loop's return in one unit: shrunk success-rate effects, every experiment's cost counted."""

from __future__ import annotations

import numpy as np
import pytest

from aitl.loop.effectiveness import shrink


def test_shrinkage_known_answers():
    # mean d^2 = 0.02 / 3, mean se^2 = 0.0025: tau^2 = 0.0041667, factor 0.0041667 / 0.0066667 = 0.625
    assert shrink([0.1, -0.1, 0.0], [0.05] * 3) == pytest.approx([0.0625, -0.0625, 0.0])
    # Effects no larger than their noise: nothing is believed.
    assert shrink([0.01, -0.02], [0.05, 0.05]) == [0.0, 0.0]
    assert shrink([], []) == []


def test_shrinking_removes_most_of_the_winners_curse():
    """Promote what looks significantly better: raw estimates overstate the gain, shrunk ones much less."""
    rng = np.random.default_rng(5)
    true = rng.normal(0.0, 0.02, 4000)
    se = np.full(true.size, 0.02)
    observed = true + rng.normal(0.0, se)
    shrunk = np.array(shrink(list(observed), list(se)))
    promoted = observed > 1.96 * se
    raw_bias = float(np.mean(observed[promoted] - true[promoted]))
    shrunk_bias = float(np.mean(shrunk[promoted] - true[promoted]))
    assert raw_bias > 0.02  # the curse: about one standard error too high
    assert abs(shrunk_bias) < raw_bias / 3
