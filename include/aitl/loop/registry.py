"""The versioned registry of prompts and settings: every version, its parent, its diff and its reason.

The platform serves ``prompts.current_version`` by default; an experiment
serves its variant version to the users its assignment puts in the variant arm.
Settings the loop changes (an agent tier or a model for a task type, a
timeout, a batch size) are versioned the same way, as JSON values. Versions
are never edited or deleted, so the history of any prompt or setting (and
which improvement produced it) can always be read back.

Method: docs/statistics.md#experiment-assignment.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aitl.store.models import ConfigTarget, ConfigVersion, Experiment, Prompt, PromptVersion


class RegistryError(LookupError):
    """A prompt or version the registry does not have."""


@dataclass(frozen=True)
class ServedPrompt:
    """What the platform serves for a prompt right now."""

    prompt_id: str
    current_version: int
    experiment_id: str | None = None
    variant_version: int | None = None
    traffic_split: float = 0.0


def unified_diff(old: str, new: str, prompt_id: str, old_version: int | None, new_version: int) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"{prompt_id}@v{old_version}" if old_version else "/dev/null",
            tofile=f"{prompt_id}@v{new_version}",
        )
    )


def get_version(session: Session, prompt_id: str, version: int) -> PromptVersion:
    found = session.get(PromptVersion, (prompt_id, version))
    if found is None:
        raise RegistryError(f"prompt {prompt_id!r} has no version {version}")
    return found


def current(session: Session, prompt_id: str) -> PromptVersion:
    prompt = session.get(Prompt, prompt_id)
    if prompt is None:
        raise RegistryError(f"prompt {prompt_id!r} is not registered")
    return get_version(session, prompt_id, prompt.current_version)


def add_version(
    session: Session,
    prompt_id: str,
    text: str,
    *,
    at: datetime,
    reason: str,
    improvement_id: str | None = None,
    make_current: bool,
) -> PromptVersion:
    """Store a new version after the latest one; the current pointer moves only if asked."""
    latest = session.scalar(
        select(func.max(PromptVersion.version)).where(PromptVersion.prompt_id == prompt_id)
    )
    parent = session.get(Prompt, prompt_id)
    parent_version = parent.current_version if parent else None
    parent_text = get_version(session, prompt_id, parent_version).text if parent else ""
    version = PromptVersion(
        prompt_id=prompt_id,
        version=(latest or 0) + 1,
        text=text,
        parent_version=parent_version,
        diff=unified_diff(parent_text, text, prompt_id, parent_version, (latest or 0) + 1),
        reason=reason,
        improvement_id=improvement_id,
        created_at=at,
    )
    session.add(version)
    if make_current:
        set_current(session, prompt_id, version.version, at)
    session.flush()
    return version


def set_current(session: Session, prompt_id: str, version: int, at: datetime) -> None:
    prompt = session.get(Prompt, prompt_id)
    if prompt is None:
        session.add(Prompt(prompt_id=prompt_id, current_version=version, updated_at=at))
    else:
        prompt.current_version = version
        prompt.updated_at = at


def ensure_registered(session: Session, prompt_id: str, text: str, *, at: datetime) -> int:
    """Register a prompt's text unless the current version already says exactly that.

    Used by the platform side (and the simulator) to publish what it serves;
    returns the current version.
    """
    prompt = session.get(Prompt, prompt_id)
    if prompt is not None and get_version(session, prompt_id, prompt.current_version).text == text:
        return prompt.current_version
    reason = "registered by the platform" if prompt is None else "platform release"
    return add_version(session, prompt_id, text, at=at, reason=reason, make_current=True).version


def served(session: Session) -> dict[str, ServedPrompt]:
    """Every registered prompt with the experiment (if any) that splits its traffic."""
    result = {
        p.prompt_id: ServedPrompt(p.prompt_id, p.current_version) for p in session.scalars(select(Prompt))
    }
    for experiment in session.scalars(select(Experiment).where(Experiment.status == "running")):
        base = result.get(experiment.prompt_id)
        if base is not None:
            result[experiment.prompt_id] = ServedPrompt(
                base.prompt_id,
                experiment.control_version,
                experiment.id,
                experiment.variant_version,
                experiment.traffic_split,
            )
    return result


def assign_arm(experiment_id: str, unit_id: str, traffic_split: float) -> str:
    """Deterministic assignment: the same unit always lands in the same arm.

    Exactly: the SHA-256 digest of the UTF-8 text ``f"{experiment_id}:{unit_id}"``,
    its first 8 bytes read as a big-endian unsigned integer, divided by 2**64
    (a double in [0, 1]); below ``traffic_split`` is the variant, anything else
    (equal included) the control. Independent across experiments and reproducible
    by the platform: the rule, a reference implementation and test vectors are
    in docs/event-contract.md ("Assignment"). The unit is the execution:
    every execution is then an independent draw, which is what the tests on
    executions in ``aitl.loop.verification`` assume (assigning users would make a
    user's executions one correlated cluster and need user-level analysis).
    """
    digest = hashlib.sha256(f"{experiment_id}:{unit_id}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") / 2**64
    return "variant" if bucket < traffic_split else "control"


# --------------------------------------------------------------------------- configuration


def config_text(value: dict[str, Any]) -> str:
    """A setting's value as stable, diffable text."""
    return json.dumps(value, indent=2, sort_keys=True) + "\n"


def current_config(session: Session, target_id: str) -> ConfigVersion | None:
    target = session.get(ConfigTarget, target_id)
    if target is None:
        return None
    return session.get(ConfigVersion, (target_id, target.current_version))


def apply_config(
    session: Session,
    target_id: str,
    kind: str,
    value: dict[str, Any],
    *,
    at: datetime,
    reason: str,
    improvement_id: str | None = None,
) -> ConfigVersion:
    """Store a new version of a setting and make it current (the platform applies it from the outbox)."""
    parent = current_config(session, target_id)
    latest = session.scalar(
        select(func.max(ConfigVersion.version)).where(ConfigVersion.target_id == target_id)
    )
    number = (latest or 0) + 1
    old_text = config_text(parent.value) if parent else ""
    version = ConfigVersion(
        target_id=target_id,
        version=number,
        value=value,
        parent_version=parent.version if parent else None,
        diff="".join(
            difflib.unified_diff(
                old_text.splitlines(keepends=True),
                config_text(value).splitlines(keepends=True),
                fromfile=f"{target_id}@v{parent.version}" if parent else "/dev/null",
                tofile=f"{target_id}@v{number}",
            )
        ),
        reason=reason,
        improvement_id=improvement_id,
        created_at=at,
    )
    session.add(version)
    target = session.get(ConfigTarget, target_id)
    if target is None:
        session.add(ConfigTarget(target_id=target_id, kind=kind, current_version=number, updated_at=at))
    else:
        target.current_version, target.updated_at = number, at
    session.flush()
    return version


def revert_config(session: Session, target_id: str, *, at: datetime, reason: str) -> ConfigVersion:
    """Roll a setting back to the parent of its current version, as a new version."""
    current = current_config(session, target_id)
    if current is None or current.parent_version is None:
        raise RegistryError(f"setting {target_id!r} has no earlier version to return to")
    parent = session.get(ConfigVersion, (target_id, current.parent_version))
    target = session.get(ConfigTarget, target_id)
    return apply_config(session, target_id, target.kind, parent.value, at=at, reason=reason)


def history(session: Session, target_id: str) -> list[dict[str, Any]]:
    """Every version of a prompt or a setting, oldest first, with lineage, reason and diff."""
    rows: list[Any] = list(
        session.scalars(
            select(PromptVersion).where(PromptVersion.prompt_id == target_id).order_by(PromptVersion.version)
        )
    )
    current_version = getattr(session.get(Prompt, target_id), "current_version", None)
    if not rows:
        rows = list(
            session.scalars(
                select(ConfigVersion)
                .where(ConfigVersion.target_id == target_id)
                .order_by(ConfigVersion.version)
            )
        )
        current_version = getattr(session.get(ConfigTarget, target_id), "current_version", None)
    if not rows:
        raise RegistryError(f"{target_id!r} is neither a registered prompt nor a setting")
    return [
        {
            "version": row.version,
            "current": row.version == current_version,
            "parent_version": row.parent_version,
            "created_at": row.created_at.isoformat(),
            "reason": row.reason,
            "improvement_id": row.improvement_id,
            "diff": row.diff,
        }
        for row in rows
    ]
