"""The versioned prompt registry: every version, its parent, its diff and its reason.

The platform serves ``prompts.current_version`` by default; an experiment
serves its variant version to the users its assignment puts in the variant arm.
Versions are never edited or deleted, so the history of any prompt (and which
improvement produced which text) can always be read back.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aitl.store.models import Experiment, Prompt, PromptVersion


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
    """Deterministic assignment: the same user always lands in the same arm.

    A salted hash of (experiment, unit) mapped to [0, 1): independent across
    experiments, stable across sessions, and reproducible by the platform.
    """
    digest = hashlib.sha256(f"{experiment_id}:{unit_id}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") / 2**64
    return "variant" if bucket < traffic_split else "control"
