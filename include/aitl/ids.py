"""Deterministic ids: a rerun of a window rewrites the same rows instead of adding new ones."""

from __future__ import annotations

import hashlib
import json


def record_key(source: str, locator: str) -> str:
    """The id of a record by where it was read: JSON-encoded, so no two (source, locator) pairs meet."""
    return stable_id(json.dumps([source, locator]))


def stable_id(*parts: object) -> str:
    """A short deterministic id: the same finding in the same window keeps its id."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return digest[:24]
