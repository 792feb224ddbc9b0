"""Deterministic ids: a rerun of a window rewrites the same rows instead of adding new ones."""

from __future__ import annotations

import hashlib


def stable_id(*parts: object) -> str:
    """A short deterministic id: the same finding in the same window keeps its id."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return digest[:24]
