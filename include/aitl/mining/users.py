"""The user-level loop: long-term patterns of individual users (seed: UserFeedbackLoop).

Two findings, each tested and corrected for testing many users at once
(Benjamini-Hochberg over all users tested that day):

* **keeps failing on a task type**: a user with at least ``MIN_ATTEMPTS``
  executions of a task type whose failure rate is significantly above that
  task type's rate for everyone else (one-sided binomial test) and at least
  ``MIN_RATIO`` times it;
* **satisfaction trending down**: a user who rated executions on at least
  ``MIN_RATED_DAYS`` days whose daily mean rating declines (Mann-Kendall).

Method: docs/statistics.md#user-level-findings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from statsmodels.stats.multitest import multipletests

from aitl.stats import timeseries

MIN_ATTEMPTS = 10
MIN_RATIO = 2.0
MIN_RATED_DAYS = 4


@dataclass(frozen=True)
class UserFinding:
    kind: str  # "failing_task" or "declining_satisfaction"
    user_id: str
    task_type: str
    n: int
    rate: float  # the user's failure rate, or satisfaction slope per day
    baseline: float  # everyone else's failure rate, or the user's mean rating
    p_value: float  # adjusted (Benjamini-Hochberg)


def _adjusted(p_values: list[float], alpha: float) -> np.ndarray:
    if not p_values:
        return np.zeros(0)
    return multipletests(p_values, alpha=alpha, method="fdr_bh")[1]


def failing_users(users: pd.DataFrame, alpha: float) -> list[UserFinding]:
    """Users who fail a task type far more often than everyone else does."""
    if users.empty:
        return []
    totals = users.groupby("task_type")[["n", "successes"]].sum()
    candidates = users[users["n"] >= MIN_ATTEMPTS]
    tested: list[tuple[str, str, int, int, float, float]] = []
    for user_id, task_type, n, successes in candidates[["user_id", "task_type", "n", "successes"]].itertuples(
        index=False
    ):
        failures = n - successes
        rest_n = totals.at[task_type, "n"] - n
        if rest_n <= 0:
            continue
        rest_rate = (rest_n - (totals.at[task_type, "successes"] - successes)) / rest_n
        p = binomtest(
            int(failures), int(n), min(max(rest_rate, 1e-9), 1 - 1e-9), alternative="greater"
        ).pvalue
        tested.append((user_id, task_type, int(n), int(failures), float(rest_rate), float(p)))
    adjusted = _adjusted([t[-1] for t in tested], alpha)
    found = []
    for (user_id, task_type, n, failures, rest_rate, _), p in zip(tested, adjusted, strict=True):
        rate = failures / n
        if p < alpha and rate >= MIN_RATIO * rest_rate:
            found.append(UserFinding("failing_task", user_id, task_type, n, rate, rest_rate, float(p)))
    return found


def declining_satisfaction(users_by_hour: pd.DataFrame, alpha: float) -> list[UserFinding]:
    """Users whose daily mean rating trends down over the window."""
    if users_by_hour.empty:
        return []
    rated = users_by_hour[users_by_hour["satisfaction_n"] > 0].assign(
        day=lambda f: pd.to_datetime(f["hour"], utc=True).dt.floor("D")
    )
    daily = rated.groupby(["user_id", "day"])[["satisfaction_sum", "satisfaction_n"]].sum()
    tested: list[tuple[str, int, float, float, float]] = []
    for user_id, rows in daily.groupby(level="user_id"):
        if len(rows) < MIN_RATED_DAYS:
            continue
        means = rows["satisfaction_sum"] / rows["satisfaction_n"]
        series = pd.Series(means.to_numpy(), index=rows.index.get_level_values("day"))
        series = series.asfreq("D")
        result = timeseries.trend(series, higher_is_better=True, alpha=alpha)
        tested.append(
            (
                str(user_id),
                int(rows["satisfaction_n"].sum()),
                result.slope_per_day,
                float(means.mean()),
                result.p_value,
            )
        )
    adjusted = _adjusted([t[-1] for t in tested], alpha)
    return [
        UserFinding("declining_satisfaction", user_id, "", n, slope, mean, float(p))
        for (user_id, n, slope, mean, _), p in zip(tested, adjusted, strict=True)
        if p < alpha and slope < 0
    ]
