"""How much retries leak between arms when experiments assign each execution.

Assignment is per execution (``aitl.loop.implementation``: a hash of the
experiment and the execution id), and a failed execution is often retried as a
new execution with a new draw. The retries of one arm's failures land in both
arms. Since every attempt is drawn afresh, the two arms see the same mix of
executions, so neither arm is favoured; but that mix over-weights hard tasks
(they are the ones that fail and come back), and the comparison measures the
effect on executions, not on tasks' first attempts. Where an effect is larger
on hard tasks (as a shift in log-odds is, for tasks near 50 %), the measured
effect is larger than the per-task one, in either direction. Sessions would
avoid it (every attempt of a task in one arm), but per-session variance does
not add across hourly rollups, so assignment stays per execution and this
module measures what that costs.

Model: tasks of varying difficulty (a task's success probability under control
is Beta-distributed with mean ``p_control``); the variant shifts every task's
log-odds by the same amount, chosen so that its first attempts succeed
``effect`` more often; a failed attempt is retried with probability
``retry_probability``, up to ``max_retries`` times, each attempt assigned
afresh. The true effect is the first-attempt difference; the measured one is
what the arms' executions show.

Method: docs/statistics.md#retries-between-arms.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit, logit


@dataclass(frozen=True)
class RetryBias:
    true_effect: float
    measured_effect: float
    bias: float  # measured minus true
    relative_bias: float  # bias / true effect
    executions_per_task: float

    def as_dict(self) -> dict[str, float]:
        return {name: round(value, 5) for name, value in asdict(self).items()}


def retry_bias(
    p_control: float = 0.8,
    effect: float = -0.1,
    retry_probability: float = 0.7,
    max_retries: int = 3,
    concentration: float = 4.0,
    tasks: int = 200_000,
    seed: int = 0,
) -> RetryBias:
    """Simulate ``tasks`` tasks through a 50/50 per-execution experiment with retries."""
    rng = np.random.default_rng(seed)
    base = rng.beta(p_control * concentration, (1 - p_control) * concentration, tasks)
    base = np.clip(base, 1e-6, 1 - 1e-6)
    shift = brentq(lambda s: float(np.mean(expit(logit(base) + s)) - base.mean() - effect), -20, 20)
    p_variant = expit(logit(base) + shift)
    successes = np.zeros(2)
    executions = np.zeros(2)
    pending = np.ones(tasks, dtype=bool)
    for attempt in range(max_retries + 1):
        arm = rng.random(tasks) < 0.5  # True: variant, drawn afresh for every attempt
        ok = rng.random(tasks) < np.where(arm, p_variant, base)
        for index, in_arm in ((0, ~arm), (1, arm)):
            chosen = pending & in_arm
            executions[index] += chosen.sum()
            successes[index] += (chosen & ok).sum()
        retried = rng.random(tasks) < retry_probability
        pending = pending & ~ok & retried
        if attempt == max_retries or not pending.any():
            break
    rates = successes / executions
    true_effect = float(p_variant.mean() - base.mean())
    measured = float(rates[1] - rates[0])
    return RetryBias(
        true_effect=true_effect,
        measured_effect=measured,
        bias=measured - true_effect,
        relative_bias=(measured - true_effect) / true_effect if true_effect else float("nan"),
        executions_per_task=float(executions.sum() / tasks),
    )
