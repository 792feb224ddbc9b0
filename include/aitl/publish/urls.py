"""What may be shown of a URL that leads somewhere: its scheme and host, nothing else.

An incoming-webhook URL's path is its secret (Slack's ``/services/T…/B…/X…``),
a query string often carries a token and the user info a password. So sink
names, sink errors and alert logs name an endpoint by ``url_origin(url)``,
never by the URL itself, and ``mask_httpx_log`` keeps httpx's own request
log lines to the origin too.

Standard library only: the Airflow alerts (``aitl_airflow.alerts``) use it in
processes that must not import the store.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

UNREADABLE = "(unreadable url)"


def url_origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``; ``UNREADABLE`` when it has no scheme or host. Never raises."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:  # a port that is not a number, a malformed IPv6 address
        return UNREADABLE
    if not parts.scheme or not host:
        return UNREADABLE
    if ":" in host:  # IPv6: hostname drops the brackets
        host = f"[{host}]"
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port is not None else "")


class _OriginOnly(logging.Filter):
    """Rewrites httpx's ``HTTP Request: POST <url> "HTTP/1.1 200 OK"`` (INFO) to show the origin only."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if str(record.msg).startswith("HTTP Request:") and isinstance(args, tuple) and len(args) > 1:
            record.args = (args[0], url_origin(str(args[1])), *args[2:])
        return True


def mask_httpx_log() -> None:
    """Make the ``httpx`` logger show request URLs by origin only (idempotent, process-wide).

    httpx logs every request's full URL at INFO. Airflow's logging keeps the
    ``httpx`` logger at WARNING, but any process logging httpx at INFO (a
    custom logging config, ``aitl`` under a verbose root logger, a test)
    would print a webhook's secret path.
    """
    logger = logging.getLogger("httpx")
    if not any(isinstance(existing, _OriginOnly) for existing in logger.filters):
        logger.addFilter(_OriginOnly())
