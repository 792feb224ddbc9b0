"""The user-level loop: long-term patterns of individual users (seed: UserFeedbackLoop).

Two findings, each a test per user whose p-value joins the daily run's
false-discovery-rate family (Benjamini-Hochberg over every pattern test of
the run, many users at once included):

* **keeps failing on a task type**: a user with at least ``MIN_ATTEMPTS``
  executions of a task type whose failure rate is significantly more than
  ``MIN_RATIO`` times that task type's rate for everyone else (one-sided
  binomial test against twice the others' rate);
* **satisfaction trending down**: a user who rated executions on at least
  ``MIN_RATED_DAYS`` days whose daily mean rating declines (Mann-Kendall).

Method: docs/statistics.md#user-level-findings.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from scipy.stats import binomtest

from aitl.mining.pattern import PatternRow
from aitl.stats import timeseries

MIN_ATTEMPTS = 10
MIN_RATIO = 2.0
MIN_RATED_DAYS = 4


@dataclass(frozen=True)
class UserTest:
    """One user tested: for a failing task type, or for a declining rating."""

    kind: str  # "failing_task" or "declining_satisfaction"
    user_id: str
    task_type: str
    n: int
    rate: float  # the user's failure rate, or satisfaction slope per day
    baseline: float  # everyone else's failure rate, or the user's mean rating
    p_value: float

    @property
    def notable(self) -> bool:
        """Whether the effect is large enough to report once the test is significant."""
        if self.kind == "failing_task":
            return self.rate >= MIN_RATIO * self.baseline
        return self.rate < 0

    def pattern(self, q_value: float) -> PatternRow:
        """This user's test as a ``patterns`` row (kind ``user``)."""
        segment = {"user_id": self.user_id, **({"task_type": self.task_type} if self.task_type else {})}
        return PatternRow(
            kind="user",
            signal_kind=self.kind,
            signal=self.kind,
            category="prompt_optimization",
            subtype="clarity",
            segment=segment,
            count=self.n,
            segment_n=self.n,
            rate=self.rate,
            baseline_rate=self.baseline,
            p_value=self.p_value,
            q_value=q_value,
        )


def failing_task_tests(users: pd.DataFrame) -> list[UserTest]:
    """Each user with ``MIN_ATTEMPTS`` of a task type: failing it more often than everyone else?"""
    if users.empty:
        return []
    totals = users.groupby("task_type")[["n", "successes"]].sum()
    candidates = users[users["n"] >= MIN_ATTEMPTS]
    tested: list[UserTest] = []
    for user_id, task_type, n, successes in candidates[["user_id", "task_type", "n", "successes"]].itertuples(
        index=False
    ):
        failures = n - successes
        rest_n = totals.at[task_type, "n"] - n
        if rest_n <= 0:
            continue
        rest_rate = (rest_n - (totals.at[task_type, "successes"] - successes)) / rest_n
        # H0: at most MIN_RATIO times everyone else's rate, the claim a finding makes
        # (as for frequency patterns: mild differences between users are real and no finding).
        bound = MIN_RATIO * rest_rate
        p = (
            binomtest(int(failures), int(n), max(bound, 1e-9), alternative="greater").pvalue
            if bound < 1
            else 1.0
        )
        tested.append(
            UserTest(
                "failing_task", str(user_id), task_type, int(n), failures / n, float(rest_rate), float(p)
            )
        )
    return tested


def satisfaction_tests(users_by_hour: pd.DataFrame) -> list[UserTest]:
    """Each user rating on ``MIN_RATED_DAYS`` days: does their daily mean rating trend (Mann-Kendall)?"""
    if users_by_hour.empty:
        return []
    rated = users_by_hour[users_by_hour["satisfaction_n"] > 0].assign(
        day=lambda f: pd.to_datetime(f["hour"], utc=True).dt.floor("D")
    )
    daily = rated.groupby(["user_id", "day"])[["satisfaction_sum", "satisfaction_n"]].sum()
    tested: list[UserTest] = []
    for user_id, rows in daily.groupby(level="user_id"):
        if len(rows) < MIN_RATED_DAYS:
            continue
        means = rows["satisfaction_sum"] / rows["satisfaction_n"]
        series = pd.Series(means.to_numpy(), index=rows.index.get_level_values("day")).asfreq("D")
        result = timeseries.trend(series, higher_is_better=True)
        tested.append(
            UserTest(
                "declining_satisfaction",
                str(user_id),
                "",
                int(rows["satisfaction_n"].sum()),
                result.slope_per_day,
                float(means.mean()),
                result.p_value,
            )
        )
    return tested
