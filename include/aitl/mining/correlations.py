"""Correlation patterns: metrics that move together, with a test behind each.

Two views, both with Pearson's r and its two-sided p-value (scipy):

* **segment metrics**: over the window's segments (tier x task x language x
  model x prompt version) with at least ``MIN_SEGMENT_N`` events, do segments
  with, say, more security findings also have lower quality?
* **event features**: over a deterministic sample of the day's events, does
  complexity go with duration, token use with cost, coverage with success?

A pair is reported when |r| >= the threshold (seed: 0.6), p < alpha and at
least ``MIN_POINTS`` points support it. Constant columns have no correlation
and are skipped, never reported as NaN.

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


def correlate(frame: pd.DataFrame, scope: str, threshold: float, alpha: float) -> list[Correlation]:
    """Every pair of columns with |r| >= threshold and p < alpha over at least MIN_POINTS rows."""
    found: list[Correlation] = []
    numeric = frame.apply(pd.to_numeric, errors="coerce").astype(float)
    for left, right in itertools.combinations(numeric.columns, 2):
        pair = numeric[[left, right]].dropna()
        if len(pair) < MIN_POINTS or pair[left].nunique() < 2 or pair[right].nunique() < 2:
            continue
        r, p_value = pearsonr(pair[left], pair[right])
        if abs(r) >= threshold and p_value < alpha:
            found.append(Correlation(scope, left, right, float(r), float(p_value), len(pair)))
    return sorted(found, key=lambda c: (-abs(c.r), c.left, c.right))


def segment_metrics(rollups: pd.DataFrame) -> pd.DataFrame:
    """Per-segment rates and means from summed rollups (segments below MIN_SEGMENT_N dropped)."""
    big = rollups[rollups["n"] >= MIN_SEGMENT_N]
    n = big["n"].astype(float)
    satisfaction = big["satisfaction_sum"] / big["satisfaction_n"].where(big["satisfaction_n"] > 0)
    return pd.DataFrame(
        {
            "success_rate": big["successes"] / n,
            "mean_quality": big["quality_sum"] / n,
            "mean_log_duration": big["log_duration_sum"] / n,
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


def as_pattern(correlation: Correlation) -> PatternRow:
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
        details={
            "r": correlation.r,
            "left": correlation.left,
            "right": correlation.right,
            "test": "pearson",
            "n": correlation.n,
        },
    )
