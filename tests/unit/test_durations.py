"""Durations: one definition for the parser, the params' pattern and the thresholds."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from aitl.config import ConfigError, Thresholds
from aitl.durations import DURATION_PATTERN, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [("15m", timedelta(minutes=15)), ("24h", timedelta(hours=24)), (" 7 d ", timedelta(days=7))],
)
def test_parse(text, expected):
    assert re.match(DURATION_PATTERN, text)
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["a day", "24", "1.5h", "-3h", "3w", ""])
def test_the_parser_refuses_what_the_param_pattern_refuses(text):
    assert re.match(DURATION_PATTERN, text) is None
    with pytest.raises(ValueError, match="must look like"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("duration", "text"),
    [(timedelta(hours=24), "24h"), (timedelta(days=7), "168h"), (timedelta(minutes=90), "90m")],
)
def test_format_round_trips(duration, text):
    assert format_duration(duration) == text
    assert parse_duration(text) == duration


def test_format_refuses_seconds():
    with pytest.raises(ValueError, match="whole number of minutes"):
        format_duration(timedelta(seconds=30))


def test_thresholds_hold_timedelta_and_record_text():
    thresholds = Thresholds.resolve("production", {"ab_test_duration": "72h"})
    assert thresholds.ab_test_duration == timedelta(hours=72)
    assert thresholds.feedback_window == timedelta(hours=6)
    recorded = json.loads(json.dumps(thresholds.as_dict()))
    assert recorded["ab_test_duration"] == "72h" and recorded["feedback_window"] == "6h"


def test_a_malformed_duration_threshold_is_refused_naming_it():
    with pytest.raises(ConfigError, match="ab_test_duration"):
        Thresholds.resolve("staging", {"ab_test_duration": "a day"})
