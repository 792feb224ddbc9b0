"""The run params of the cycle DAGs: what a manual (ad-hoc) run may set, as JSON schema.

Imported at parse time, so it imports nothing but the Task SDK and the
library's standard-library-only kernel (``aitl.config``, ``aitl.durations``, ``aitl.shards``):
the thresholds' schema is generated from ``AITL_CONFIG``.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param

from aitl.config import AITL_CONFIG, SEGMENT_FILTER_KEYS
from aitl.durations import DURATION_PATTERN
from aitl.shards import MAX_SHARDS

# The role that may trigger the review DAG (its ``access_control``), with an auth
# manager that has roles (FAB, Keycloak): docs/operations.md.
REVIEWER_ROLE = "AITL Reviewer"

# The longest window override a manual run may take: 31 days (744 hours).
# Longer ranges are a backfill's job (one run per hour or day, in parallel).
MAX_OVERRIDE_HOURS = 744

# An ISO 8601 date-time: date, time, optional seconds and fraction, optional
# offset (none = UTC). Checked by pattern because jsonschema's "date-time"
# format check needs a package Airflow does not install.
ISO_DATE_TIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$"

_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def threshold_schema() -> dict[str, Any]:
    """JSON schema of the ``thresholds`` param: AITL_CONFIG names, typed as their defaults."""
    properties: dict[str, Any] = {}
    for name, default in AITL_CONFIG.items():
        schema: dict[str, Any] = {"type": _JSON_TYPES[type(default)]}
        if isinstance(default, str):  # every string setting of AITL_CONFIG is a duration
            schema["pattern"] = DURATION_PATTERN
        properties[name] = schema
    return {"type": "object", "properties": properties, "additionalProperties": False}


def run_params(level: str = "hourly") -> dict[str, Param]:
    """The trigger-form params of the cycle DAGs (a DAG adds its own); fresh per DAG.

    ``level`` is the cycle (``hourly`` / ``daily``): it decides the unit a
    window override is cut into, and the wording.
    """
    unit = "hour" if level == "hourly" else "day (midnight UTC)"
    each = "hour" if level == "hourly" else "day"
    date_time = {"type": ["null", "string"], "format": "date-time", "pattern": ISO_DATE_TIME}
    return {
        "profile": Param(
            "staging",
            enum=["production", "staging", "development"],
            description="Environment profile: which AITL_CONFIG thresholds apply.",
        ),
        "dry_run": Param(False, type="boolean", description="Analyze and plan, but launch nothing."),
        "window_start": Param(
            None,
            **date_time,
            description=(
                f"Window override, with window_end: ISO 8601 start on an {unit} boundary (no offset = "
                f"UTC). The {level} cycle runs for each {each} of [window_start, window_end) instead "
                "of the run's data interval. Not with hours."
            ),
        ),
        "window_end": Param(
            None,
            **date_time,
            description=(
                f"Window override: ISO 8601 end (exclusive), after window_start, on an {unit} boundary."
            ),
        ),
        "hours": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            maximum=MAX_OVERRIDE_HOURS,
            description=(
                f"Window override: the N hours ending at the run's data interval end; the {level} cycle "
                f"runs for each {each} of them"
                + ("" if level == "hourly" else " (a multiple of 24)")
                + ". Not with window_start / window_end."
            ),
        ),
        **(
            {
                "shards": Param(
                    None,
                    type=["null", "integer"],
                    minimum=1,
                    maximum=MAX_SHARDS,
                    description=(
                        "Split the hour into this many shards, each collected and summarised by its own "
                        "mapped task (several workers share a busy hour); null: the shards threshold "
                        "(default 1)."
                    ),
                )
            }
            if level == "hourly"
            else {}
        ),
        "thresholds": Param(
            {},
            **threshold_schema(),
            description=(
                "Threshold overrides for this run, over the profile: AITL_CONFIG names with values of "
                'the same type, e.g. {"min_frequency": 3, "alpha": 0.01}; {"pause_launches": true} '
                "launches and applies nothing. Stored in pipeline_runs.settings."
            ),
        ),
        "segment": Param(
            {},
            type="object",
            properties={key: {"type": "string", "minLength": 1} for key in SEGMENT_FILTER_KEYS},
            additionalProperties=False,
            description=(
                f"Plan only improvements within this segment (keys {', '.join(SEGMENT_FILTER_KEYS)}): "
                "a refinement or timeout whose insight's segment has every given value, a setting "
                "change whose task type (and model or agent tier it switches to) has them. "
                'E.g. {"task_type": "api_endpoint", "language": "python"}. Analysis is not filtered.'
            ),
        ),
    }
