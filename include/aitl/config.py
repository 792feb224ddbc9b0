"""Thresholds and environment profiles of the AITL loop.

The defaults are the seed's ``AITL_CONFIG``; a deployment chooses an environment
profile (production / staging / development) that overrides a few of them, and a
single run may override any of them again. Resolution is always
``defaults -> profile -> run overrides`` so a run's effective settings can be
reconstructed from what it stored.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from aitl.durations import format_duration, parse_duration
from aitl.shards import MAX_SHARDS, Shard

AITL_CONFIG: dict[str, Any] = {
    "feedback_window": "1h",
    "min_feedback_count": 10,
    "pattern_confidence_threshold": 0.7,
    "pattern_support_threshold": 0.1,
    # PatternExtractor (seed): frequency, correlation and anomaly settings and
    # the trailing window of the daily analysis.
    "min_frequency": 5,
    "correlation_threshold": 0.6,
    "sensitivity": 0.95,
    "window_days": 7,
    "max_improvements_per_cycle": 10,
    "improvement_confidence_threshold": 0.8,
    "auto_implement_threshold": 0.9,
    "ab_test_duration": "24h",
    "max_concurrent_improvements": 5,
    "improvement_budget": 100,
    "rollback_threshold": 0.2,
    "safety_mode": True,
    "traffic_split": 0.5,
    "alpha": 0.05,
    # Cost (not in the seed): a model or agent tier that is cheaper per success
    # is recommended only if its success rate is worse by less than this
    # (absolute), shown by a non-inferiority test (aitl.loop.choices).
    "noninferiority_margin": 0.02,
    # Event time (not in the seed): how long after its hour an event is
    # still stored in that hour by the scheduled runs, and how old a landing
    # file must be before it is read (for producers that cannot
    # write-then-rename; 0 reads everything not named *.tmp or .*).
    "allowed_lateness": "6h",
    "min_file_age_s": 0,
    # Retention (not in the seed): raw events and quarantine rows older than this
    # many days before a daily run's day are pruned once their hour is summarised
    # (aitl.store.retention); everything derived is kept.
    "retention_days": 30,
    # Scale (not in the seed): the shards an hourly run splits its hour into,
    # each collected and summarised by its own mapped task (aitl.shards); 1
    # keeps one task per stage.
    "shards": 1,
    # Manual control (not in the seed): nothing is launched or applied while on
    # (planned improvements are deferred, approvals refused); analysis, looks
    # and decisions go on. Also AITL_PAUSE_LAUNCHES for every run of a deployment.
    "pause_launches": False,
}

ENVIRONMENT_PROFILES: dict[str, dict[str, Any]] = {
    "production": {
        "feedback_window": "6h",
        "improvement_confidence_threshold": 0.95,
        "safety_mode": True,
        "auto_implement_threshold": 0.98,
    },
    "staging": {
        "feedback_window": "1h",
        "improvement_confidence_threshold": 0.8,
        "safety_mode": True,
        "auto_implement_threshold": 0.9,
    },
    "development": {
        "feedback_window": "15m",
        "improvement_confidence_threshold": 0.6,
        "safety_mode": False,
        "auto_implement_threshold": 0.7,
    },
}

DEFAULT_PROFILE = "staging"

# What a manual cycle may be restricted to (``Settings.segment``): the
# execution context fields an improvement's scope can name. See
# ``aitl.pipeline.acting.in_segment`` for what matching means.
SEGMENT_FILTER_KEYS = ("task_type", "language", "agent_tier", "model", "prompt_id")


# The gates a reviewer may set aside, explicitly and on the record, where the
# deployment allows it (``Settings.review_overrides``, off by default). The
# budget and a conflicting experiment are never overridden: a second
# experiment on one prompt would corrupt both.
OVERRIDABLE_GATES = ("safety_mode",)

# What ingest may do with free text (Settings.privacy).
PRIVACY_MODES = ("keep", "hash", "drop")


class ConfigError(ValueError):
    """A setting or profile that does not exist or has a value of the wrong kind."""


@dataclass(frozen=True)
class Thresholds:
    """The effective AITL thresholds of one run (seed ``AITL_CONFIG`` names).

    The seed's duration settings (``AITL_CONFIG``'s strings) are held as
    ``timedelta``: a malformed one is refused when the thresholds resolve,
    not when a decision first needs it.
    """

    feedback_window: timedelta
    min_feedback_count: int
    pattern_confidence_threshold: float
    pattern_support_threshold: float
    min_frequency: int
    correlation_threshold: float
    sensitivity: float
    window_days: int
    max_improvements_per_cycle: int
    improvement_confidence_threshold: float
    auto_implement_threshold: float
    ab_test_duration: timedelta
    max_concurrent_improvements: int
    improvement_budget: int
    rollback_threshold: float
    safety_mode: bool
    traffic_split: float
    alpha: float
    noninferiority_margin: float
    allowed_lateness: timedelta
    min_file_age_s: int
    retention_days: int
    shards: int
    pause_launches: bool

    @classmethod
    def resolve(cls, profile: str = DEFAULT_PROFILE, overrides: dict[str, Any] | None = None) -> Thresholds:
        """Defaults, then the profile, then per-run overrides; unknown names are refused."""
        if profile not in ENVIRONMENT_PROFILES:
            raise ConfigError(f"profile {profile!r} is not one of {sorted(ENVIRONMENT_PROFILES)}")
        values = {**AITL_CONFIG, **ENVIRONMENT_PROFILES[profile]}
        for name, value in (overrides or {}).items():
            if name not in values:
                raise ConfigError(f"unknown threshold {name!r}")
            expected = type(AITL_CONFIG[name])
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise ConfigError(f"threshold {name!r} must be {expected.__name__}, got {value!r}")
            values[name] = value
        for name, default in AITL_CONFIG.items():
            if isinstance(default, str):
                try:
                    values[name] = parse_duration(values[name])
                except ValueError as error:
                    raise ConfigError(f"threshold {name!r}: {error}") from None
        if (days := values["retention_days"]) < 1:
            raise ConfigError(f"threshold 'retention_days' must be at least 1, got {days}")
        if not 0 <= (margin := values["noninferiority_margin"]) < 1:
            raise ConfigError(f"threshold 'noninferiority_margin' must be in [0, 1), got {margin}")
        if not 1 <= (shards := values["shards"]) <= MAX_SHARDS:
            raise ConfigError(f"threshold 'shards' must be 1 to {MAX_SHARDS}, got {shards}")
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """The thresholds as JSON values (durations in their seed form), as runs record them."""
        return {
            name: format_duration(value) if isinstance(value, timedelta) else value
            for name, value in dataclasses.asdict(self).items()
        }


def default_home() -> Path:
    """Where the embedded defaults live: ``$AITL_HOME`` or ``~/.aitl``."""
    return Path(os.environ.get("AITL_HOME", Path.home() / ".aitl")).expanduser()


# Where alerts go outside Airflow (inside it, the aitl_alerts connection wins).
ALERT_WEBHOOK_ENV = "AITL_ALERT_WEBHOOK"
# The AITL view's address, for the link every alert carries (make airflow's by default).
VIEW_URL_ENV = "AITL_VIEW_URL"
DEFAULT_VIEW_URL = "http://localhost:8080/aitl/"


@dataclass(frozen=True)
class Settings:
    """Where the events come from and where results go, plus the thresholds.

    Outside Airflow everything comes from ``AITL_*`` environment variables; inside
    Airflow the DAG passes the store URL from the ``aitl_store`` connection.
    """

    # URLs may hold passwords: kept out of the repr, so no log of a Settings shows one.
    store_url: str = field(repr=False)
    landing_dir: Path | None
    source_url: str | None = field(default=None, repr=False)
    source_table: str = "feedback_events"
    profile: str = DEFAULT_PROFILE
    thresholds: Thresholds = field(default_factory=Thresholds.resolve)
    dry_run: bool = False
    # Where launches, decisions and setting changes are published for the
    # platform: a file path, an http(s) URL or a SQLAlchemy URL (aitl.publish.outbox).
    sink_url: str = field(default_factory=lambda: str(default_home() / "published.jsonl"), repr=False)
    # Restricts planning to improvements scoped within this segment (keys of
    # SEGMENT_FILTER_KEYS, string values); empty: no restriction.
    segment: dict[str, str] = field(default_factory=dict)
    # The gates a reviewer may explicitly set aside (AITL_REVIEW_OVERRIDES,
    # comma-separated, names from OVERRIDABLE_GATES). A deployment
    # setting, never a run's: empty unless the operators chose otherwise.
    review_overrides: frozenset[str] = frozenset()
    # What ingest keeps of free text (comments, error messages, quarantined
    # raw records): keep, hash or drop (AITL_PRIVACY; aitl.ingest.collector.Privacy).
    privacy: str = "keep"
    # The one shard of the hour a sharded stage works on (a mapped task's);
    # None: the whole hour. The shard count is the ``shards`` threshold.
    shard: Shard | None = None
    # The webhook alerts on findings and decisions go to (aitl.publish.alerts); None: no alerts.
    alert_webhook: str | None = field(default=None, repr=False)
    view_url: str = DEFAULT_VIEW_URL

    @classmethod
    def from_env(
        cls,
        *,
        store_url: str | None = None,
        profile: str | None = None,
        overrides: dict[str, Any] | None = None,
        dry_run: bool = False,
        sink_url: str | None = None,
        segment: dict[str, str] | None = None,
        alert_webhook: str | None = None,
    ) -> Settings:
        home = default_home()
        privacy = os.environ.get("AITL_PRIVACY", "keep")
        if privacy not in PRIVACY_MODES:
            raise ConfigError(f"AITL_PRIVACY {privacy!r} is not one of {PRIVACY_MODES}")
        profile = profile or os.environ.get("AITL_PROFILE", DEFAULT_PROFILE)
        if switch_on("AITL_PAUSE_LAUNCHES", os.environ.get("AITL_PAUSE_LAUNCHES")):
            overrides = {**(overrides or {}), "pause_launches": True}
        landing = os.environ.get("AITL_LANDING_DIR", str(home / "landing"))
        return cls(
            store_url=store_url or os.environ.get("AITL_STORE_URL") or f"sqlite:///{home / 'aitl.db'}",
            landing_dir=Path(landing) if landing else None,
            source_url=os.environ.get("AITL_SOURCE_URL") or None,
            source_table=os.environ.get("AITL_SOURCE_TABLE", "feedback_events"),
            profile=profile,
            thresholds=Thresholds.resolve(profile, overrides),
            dry_run=dry_run,
            sink_url=sink_url or os.environ.get("AITL_SINK_URL") or str(home / "published.jsonl"),
            segment=check_segment(segment),
            review_overrides=frozenset(
                name.strip()
                for name in os.environ.get("AITL_REVIEW_OVERRIDES", "").split(",")
                if name.strip()
            ),
            privacy=privacy,
            alert_webhook=alert_webhook or os.environ.get(ALERT_WEBHOOK_ENV) or None,
            view_url=os.environ.get(VIEW_URL_ENV) or DEFAULT_VIEW_URL,
        )


SWITCH_VALUES = {
    **dict.fromkeys(("true", "1", "yes", "on"), True),
    **dict.fromkeys(("false", "0", "no", "off", ""), False),
}


def switch_on(name: str, value: str | None) -> bool:
    """A deployment's on/off switch (``AITL_PAUSE_LAUNCHES``): true/1/yes/on or false/0/no/off/unset."""
    if value is None:
        return False
    try:
        return SWITCH_VALUES[value.strip().lower()]
    except KeyError:
        raise ConfigError(f"{name} {value!r} is neither true (true, 1, yes, on) nor false") from None


def check_segment(segment: dict[str, Any] | None) -> dict[str, str]:
    """A segment filter, checked: known keys, non-empty string values."""
    checked: dict[str, str] = {}
    for key, value in (segment or {}).items():
        if key not in SEGMENT_FILTER_KEYS:
            raise ConfigError(f"segment key {key!r} is not one of {list(SEGMENT_FILTER_KEYS)}")
        if not isinstance(value, str) or not value:
            raise ConfigError(f"segment {key!r} must be a non-empty string, got {value!r}")
        checked[key] = value
    return checked
