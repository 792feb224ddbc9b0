"""Argument checks shared by the statistical functions."""

from __future__ import annotations


def check_alpha(alpha: float) -> None:
    """Refuse a significance level outside (0, 1): every test and boundary needs one inside."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha!r}")
