"""Posting an alert to a webhook: one JSON ``POST``, never an exception.

The one code path of every alert AITL sends: the loop's findings and decisions
(``aitl.publish.alerts``, from ``aitl run`` and the Airflow tasks alike) and
Airflow's pipeline failures (``aitl_airflow.alerts``). Standard library and
``httpx`` only, so Airflow's callbacks can import it without the store.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx

from aitl.publish.urls import mask_httpx_log, url_origin

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0


def one_line(text: Any, limit: int = 300) -> str:
    """``text`` on one line, at most ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def post(url: str, message: dict[str, Any], timeout_s: float = TIMEOUT_S) -> bool:
    """POST ``message`` as JSON; True on a 2xx answer, redirects not followed.

    Failures are logged with the webhook's scheme and host only (a Slack-style
    webhook's path is its secret), never raised: an alert must not fail what
    it reports on.
    """
    mask_httpx_log()
    try:
        response = httpx.post(
            url,
            content=json.dumps(message, default=str).encode(),
            headers={"Content-Type": "application/json", "User-Agent": "aitl-alerts"},
            timeout=timeout_s,
            follow_redirects=False,
        )
        if response.is_success:
            return True
        failure = f"HTTP {response.status_code} {response.reason_phrase}"
    except Exception as exc:  # down, slow, refused, a malformed URL: log and go on
        failure = f"{type(exc).__name__}: {exc}"
    log.warning("AITL alert webhook %s failed: %s", url_origin(url), one_line(failure))
    return False
