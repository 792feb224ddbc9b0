"""Correlation patterns: metrics that move together, with a test behind each.

Two views, both with Pearson's r and its two-sided p-value (scipy):

* **segment metrics**: over the window's segments (tier x task x language x
  model x prompt version) with at least ``MIN_SEGMENT_N`` events, do segments
  with, say, more security findings also have lower quality?
* **event features**: over a deterministic sample of the day's events, does
  complexity go with duration, token use with cost, coverage with success?

Every pair with at least ``MIN_POINTS`` points is tested; its p-value joins
the run's false-discovery-rate family, and the pair is reported when
|r| >= the threshold (seed: 0.6) and q < alpha. Constant columns have no
correlation and are skipped, never reported as NaN. Only a driver of the
work (complexity, size, tokens, cost, duration) against an outcome (success,
quality, errors, ratings) is tested: pairs within one group are linked by
definition (cost is priced per token, a failure reports its errors), and
that they move together is no finding (``DRIVERS``, ``OUTCOMES``).

Method: docs/statistics.md#correlations.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pandas as pd
from scipy.stats import pearsonr
from sqlalchemy import select
from sqlalchemy.orm import Session

from aitl.mining.pattern import PatternRow
from aitl.store.models import Event
from aitl.window import Window

MIN_SEGMENT_N = 30
MIN_POINTS = 8
EVENT_SAMPLE = 20_000
EVENT_FEATURES = (
    "complexity",
    "size",
    "duration_s",
    "quality_score",
    "success",
    "syntax_errors",
    "test_coverage",
    "doc_score",
    "satisfaction",
    "tokens_in",
    "tokens_out",
    "cost_usd",
)
# Which part of the taxonomy a correlation speaks to, by the metrics involved
# (first match wins: a security metric makes it a security finding).
TAXONOMY_OF_METRIC = (
    ("security", ("security", "input_validation")),
    ("duration", ("performance", "optimization")),
    ("doc", ("quality", "documentation")),
    ("syntax", ("quality", "code_structure")),
    ("coverage", ("quality", "code_structure")),
    ("quality", ("quality", "code_structure")),
    ("token", ("prompt_optimization", "efficiency")),
    ("cost", ("prompt_optimization", "efficiency")),
)


# What each metric is, in both views (segment metrics and event features),
# declared once. Drivers measure the work asked (its size, length, price);
# outcomes measure the result. Two drivers move together because a bigger task
# is bigger in every way (tokens, size, cost and duration are functions of one
# another); two outcomes because they are facets of one result (a failure
# reports its errors, quality and ratings are given to the outcome). Neither
# is a finding: only a driver against an outcome is tested.
DRIVERS = frozenset(
    {
        "complexity",
        "size",
        "duration_s",
        "tokens_in",
        "tokens_out",
        "cost_usd",
        "mean_log_duration",
        "cost_per_event",
        "tokens_out_per_event",
    }
)
OUTCOMES = frozenset(
    {
        "success",
        "quality_score",
        "syntax_errors",
        "test_coverage",
        "doc_score",
        "satisfaction",
        "success_rate",
        "mean_quality",
        "error_rate",
        "security_rate",
        "syntax_error_rate",
        "mean_satisfaction",
    }
)


def linked(left: str, right: str) -> bool:
    """Whether a pair is linked by definition: two drivers, two outcomes, or a metric unknown to both."""
    return not ({left, right} & DRIVERS and {left, right} & OUTCOMES)


@dataclass(frozen=True)
class Correlation:
    scope: str  # "segments" or "events"
    left: str
    right: str
    r: float
    p_value: float
    n: int

    @property
    def taxonomy(self) -> tuple[str, str]:
        for needle, place in TAXONOMY_OF_METRIC:
            if needle in self.left or needle in self.right:
                return place
        return ("quality", "error_handling")


def correlate(frame: pd.DataFrame, scope: str) -> list[Correlation]:
    """Every driver-outcome pair of columns over at least MIN_POINTS rows, tested."""
    found: list[Correlation] = []
    numeric = frame.apply(pd.to_numeric, errors="coerce").astype(float)
    for left, right in itertools.combinations(numeric.columns, 2):
        if linked(left, right):
            continue
        pair = numeric[[left, right]].dropna()
        if len(pair) < MIN_POINTS or pair[left].nunique() < 2 or pair[right].nunique() < 2:
            continue
        r, p_value = pearsonr(pair[left], pair[right])
        found.append(Correlation(scope, left, right, float(r), float(p_value), len(pair)))
    return found


def strong(
    tested: list[Correlation], q_values: list[float], threshold: float, alpha: float
) -> list[tuple[Correlation, float]]:
    """The pairs with |r| >= threshold and q < alpha (q-values in ``tested`` order), strongest first."""
    kept = [(c, q) for c, q in zip(tested, q_values, strict=True) if abs(c.r) >= threshold and q < alpha]
    return sorted(kept, key=lambda cq: (-abs(cq[0].r), cq[0].left, cq[0].right))


def segment_metrics(rollups: pd.DataFrame) -> pd.DataFrame:
    """Per-segment rates and means from summed rollups (segments below MIN_SEGMENT_N dropped)."""
    big = rollups[rollups["n"] >= MIN_SEGMENT_N]
    n = big["n"].astype(float)
    satisfaction = big["satisfaction_sum"] / big["satisfaction_n"].where(big["satisfaction_n"] > 0)
    return pd.DataFrame(
        {
            "success_rate": big["successes"] / n,
            "mean_quality": big["quality_sum"] / big["quality_n"].where(big["quality_n"] > 0),
            "mean_log_duration": big["log_duration_sum"] / big["duration_n"].where(big["duration_n"] > 0),
            "error_rate": big["error_events"] / n,
            "security_rate": big["security_events"] / n,
            "syntax_error_rate": big["syntax_error_events"] / n,
            "mean_satisfaction": satisfaction,
            "cost_per_event": big["cost_sum"] / n,
            "tokens_out_per_event": big["tokens_out_sum"] / n,
        }
    )


def event_sample(session: Session, day: Window) -> pd.DataFrame:
    """Up to EVENT_SAMPLE of the day's events, chosen by event id: deterministic, spread over the day."""
    columns = [Event.__table__.c[name] for name in EVENT_FEATURES]
    query = (
        select(*columns)
        .where(Event.ts >= day.start, Event.ts < day.end)
        .order_by(Event.event_id)
        .limit(EVENT_SAMPLE)
    )
    frame = pd.DataFrame.from_records(session.execute(query).all(), columns=list(EVENT_FEATURES))
    return frame.astype({"success": float}) if len(frame) else frame


def as_pattern(correlation: Correlation, q_value: float) -> PatternRow:
    """This correlation as a ``patterns`` row (kind ``correlation``)."""
    category, subtype = correlation.taxonomy
    return PatternRow(
        kind="correlation",
        signal_kind=correlation.scope,
        signal=f"{correlation.left} ~ {correlation.right}",
        category=category,
        subtype=subtype,
        count=correlation.n,
        segment_n=correlation.n,
        rate=abs(correlation.r),
        p_value=correlation.p_value,
        q_value=q_value,
        details={
            "r": correlation.r,
            "left": correlation.left,
            "right": correlation.right,
            "test": "pearson",
            "n": correlation.n,
        },
    )
