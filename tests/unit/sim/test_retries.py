"""Retries between per-execution arms: measured, not assumed (issue 11, item 8)."""

from __future__ import annotations

import pytest

from aitl.sim.retries import retry_bias


def test_without_retries_the_measured_effect_is_the_true_one():
    found = retry_bias(effect=-0.1, retry_probability=0.0, tasks=100_000, seed=1)
    assert found.executions_per_task == 1.0
    # 100k tasks: the standard error of the difference is about 0.0025.
    assert found.measured_effect == pytest.approx(found.true_effect, abs=0.0075)


@pytest.mark.parametrize("effect", [-0.1, 0.05])
def test_retries_overstate_the_effect_in_either_direction(effect):
    """Retried executions are the hard tasks, where a log-odds shift moves success most."""
    found = retry_bias(effect=effect, retry_probability=0.9, tasks=200_000, seed=2)
    assert found.executions_per_task > 1.2
    assert 0.05 < found.relative_bias < 0.25  # 12-13 % in this model; the sign follows the effect
