"""What the simulated platform serves: each prompt's version, and the running experiments.

It exists to close the loop: the simulator reads the prompt registry the way
the real platform does, so a version promoted by an experiment is what the
traffic sees afterwards.

Without a store every prompt is served at its baseline version 1 (the
regression prompt at 2 from ``regression_at``) and there are no experiments
(``default_serving``). With one, ``store_serving`` first publishes what the
platform serves: ``ensure_registered`` for every catalogue prompt the registry
does not know yet (at the window start; the regression prompt's v1 no later
than ``regression_at``) and, when the window reaches ``regression_at``, the
release text at ``regression_at`` unless a version with that text exists. It
never re-registers a baseline over a newer current version, so a version
promoted by an experiment stays served. It then serves, per hour, the
registry's current version (the regression prompt's baseline version before
``regression_at``); for a running experiment, from the hour of its
``started_at`` on, executions are split by ``registry.assign_arm`` on their
``execution_id`` and events get ``experiment_id``, ``arm`` and the arm's
version (``Serving.plan``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from aitl.loop.registry import ensure_registered, get_version, served
from aitl.sim.catalogue import BASELINE_PROMPTS, PROMPT_IDS, release_text
from aitl.sim.scenario import Scenario
from aitl.store.database import connect, transaction
from aitl.store.models import Experiment, Prompt, PromptVersion
from aitl.window import HOUR, Window


@dataclass(frozen=True)
class ServedVersion:
    """A version of a prompt as served: its number and text."""

    version: int
    text: str


@dataclass(frozen=True)
class RunningExperiment:
    """A running experiment on a prompt: its arms, the variant's share and its start."""

    experiment_id: str
    control: ServedVersion
    variant: ServedVersion
    split: float
    started_at: datetime


@dataclass(frozen=True)
class Serving:
    """What each catalogue prompt serves: now, and the regression prompt before."""

    current: dict[str, ServedVersion]
    before_regression: ServedVersion
    experiments: dict[str, RunningExperiment]

    def plan(
        self, prompt_id: str, hour: datetime, scenario: Scenario
    ) -> tuple[ServedVersion, RunningExperiment | None]:
        """(control, running experiment or None) served in ``hour``."""
        running = self.experiments.get(prompt_id)
        if running is not None and hour + HOUR > running.started_at:
            return running.control, running
        if prompt_id == scenario.regression_prompt and hour < scenario.regression_at:
            return self.before_regression, None
        return self.current[prompt_id], None


def default_serving(scenario: Scenario) -> Serving:
    """What the platform serves without a registry: baselines, and the regression release."""
    current = {pid: ServedVersion(1, text) for pid, text in BASELINE_PROMPTS.items()}
    reg = scenario.regression_prompt
    before = current[reg]
    current[reg] = ServedVersion(2, release_text(reg))
    return Serving(current, before, {})


def _version_with_text(session, prompt_id: str, text: str) -> int | None:
    return session.scalar(
        select(PromptVersion.version)
        .where(PromptVersion.prompt_id == prompt_id, PromptVersion.text == text)
        .order_by(PromptVersion.version)
        .limit(1)
    )


def store_serving(store_url: str, window: Window, scenario: Scenario) -> Serving:
    """Publish the catalogue's prompts to the registry at ``store_url``, then read what it serves."""
    reg = scenario.regression_prompt
    with transaction(connect(store_url)) as session:
        for pid, text in BASELINE_PROMPTS.items():
            if session.get(Prompt, pid) is None:
                at = min(window.start, scenario.regression_at) if pid == reg else window.start
                ensure_registered(session, pid, text, at=at)
        if window.end > scenario.regression_at and (
            _version_with_text(session, reg, release_text(reg)) is None
        ):
            ensure_registered(session, reg, release_text(reg), at=scenario.regression_at)
        now = served(session)

        def version(pid: str, number: int) -> ServedVersion:
            return ServedVersion(number, get_version(session, pid, number).text)

        current: dict[str, ServedVersion] = {}
        experiments: dict[str, RunningExperiment] = {}
        for pid in PROMPT_IDS:
            info = now[pid]
            current[pid] = version(pid, info.current_version)
            if info.experiment_id is not None and info.variant_version is not None:
                experiment = session.get(Experiment, info.experiment_id)
                experiments[pid] = RunningExperiment(
                    info.experiment_id,
                    current[pid],
                    version(pid, info.variant_version),
                    float(info.traffic_split),
                    experiment.started_at if experiment is not None else window.start,
                )
        v1 = _version_with_text(session, reg, BASELINE_PROMPTS[reg])
        before = version(reg, v1) if v1 is not None else current[reg]
    return Serving(current, before, experiments)
