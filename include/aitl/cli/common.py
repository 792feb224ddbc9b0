"""What the ``aitl`` commands share: the usage error, where output goes, the scenario file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aitl.sim.scenario import Scenario


class UsageError(Exception):
    """A bad argument: reported as one line naming it, exit status 2."""


def output(path: str | None, text: str) -> None:
    """Write ``text`` to the file ``path``, or print it when there is none."""
    if path:
        Path(path).write_text(text)
    else:
        print(text)


def write_json(path: str | None, result: dict) -> None:
    """``result`` as indented, key-sorted JSON, to ``path`` or standard output."""
    output(path, json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")


def scenario(path: str | None) -> Scenario | None:
    """The ``--scenario`` preset's or file's ground truth, or None (the default scenario) without one."""
    from aitl.sim.scenario import Scenario

    try:
        return Scenario.named(path) if path else None
    except (OSError, ValueError) as exc:
        raise UsageError(f"--scenario: {exc}") from None
