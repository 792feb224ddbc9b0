"""The simulated platform's traffic, one hour at a time: sessions, outcomes, records, broken records.

It exists to hold the event generator apart from what it draws on: what the
platform is made of (``aitl.sim.catalogue``), what is planted
(``aitl.sim.scenario``), what is served (``aitl.sim.serving``) and the effects of
served texts (``aitl.sim.ground_truth``). ``aitl.sim.simulate`` runs it over a
window and writes the files.

``simulate_hour`` draws everything from the hour's own generator (seeded by
``(seed, hour)``), and ``new_context`` the user pool from ``seed`` alone;
``corrupt`` breaks lines with a third generator of its own.

* Users: a pool of ``scenario.users`` (400) ids ``user-NNNN`` with a skill in
  [0, 1] (Beta(5, 3)) and a log-normal activity weight.
* Volume: events per hour ~ Poisson(rate x daily x weekly [x anomaly]).
  daily = 1 + 0.6 cos(2 pi (h + 0.5 - 15) / 24) (peak 15:00 UTC, trough
  03:00); weekly = 7 / 6 on weekdays and 0.5 x that on Saturday/Sunday, so
  ``rate`` is the mean events per hour over a week (``Scenario.seasonality``).
* Sessions of 1-5 events (P = .50 .22 .14 .09 .05) share session, user, task
  type, language, complexity, tier, model and prompt; they lie inside the
  simulated hour, in order, each event finishing its duration plus a think
  time after the previous one. A non-final event is a retry: its success
  probability is x0.75 and it is never accepted.
* Structural (not planted, but real) effects: success falls with complexity
  (-0.30 per unit) and rises with tier (T0 -0.06 .. T3 +0.03), model
  (atlas-small -0.05, atlas-large +0.03) and user skill; duration is
  log-normal, longer for complex tasks and large models; failed events carry
  one background error type (syntax_error, test_failure, runtime_error,
  misunderstood_task, context_overflow, validation_error, auth_error,
  resource_exhausted). Background indicators (every taxonomy quality,
  performance and prompt_optimization indicator in ``style_issues`` at
  0.3-0.8%, every security indicator at 0.3%) are the same in every
  segment, below the 1% platform-wide threshold of ``aitl.mining.frequency``.
* Planted causes (``scenario.causes``): each shows its indicator in its rate
  (x the cure factor of the served text) of its prompt's executions in its
  language, costing them its success drop and 0.10 quality; their failures
  report background error types, so the indicator is the one trace.
* Broken records: ``scenario.malformed_rate`` of the lines, corrupted in turn
  (cut short, ``success`` as a string, ``session_id`` missing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import orjson

from aitl.loop.registry import assign_arm
from aitl.sim.catalogue import (
    BACKGROUND_ERROR_P,
    COMMENTS,
    COMPLEXITY_A,
    COMPLEXITY_B,
    E_CONTEXT,
    E_MISUNDERSTOOD,
    E_RESOURCE,
    E_RUNTIME,
    E_SYNTAX,
    E_TEST,
    E_TIMEOUT,
    E_VALIDATION,
    ERROR_MESSAGES,
    ERROR_TYPE_NAMES,
    LANGUAGE_P,
    LANGUAGES,
    MODEL_CONTEXT,
    MODEL_DOC,
    MODEL_DURATION,
    MODEL_P,
    MODEL_QUALITY,
    MODEL_SUCCESS,
    MODELS,
    PRICE_IN,
    PRICE_OUT,
    PROMPT_IDS,
    REGRESSION_LINE,
    SECURITY_INDICATORS,
    SEED_MASK,
    SESSION_LENGTH_P,
    SIZE_BASE,
    STYLE_INDICATORS,
    STYLE_RATES,
    TASK_P,
    TASK_TYPES,
    TIER_P,
    TIER_SUCCESS,
    TIERS,
)
from aitl.sim.ground_truth import text_effects
from aitl.sim.scenario import Scenario
from aitl.sim.serving import RunningExperiment, Serving

_ERROR_OBJECTS = [
    [{"type": name, "message": message} for message in ERROR_MESSAGES[name]] for name in ERROR_TYPE_NAMES
]

_COMMENT_KINDS = ("ok", "fail", "security", "timeout")

_EMPTY: list[Any] = []  # shared, never mutated: "no indicators / errors"
_ARMS = (None, "control", "variant")


def _pick(rng: np.random.Generator, probabilities: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One categorical draw per element, from the row ``rows[i]`` of ``probabilities``."""
    cdf = np.cumsum(probabilities, axis=1)
    cdf[:, -1] = 1.0
    u = rng.random(len(rows))
    return np.minimum((u[:, None] >= cdf[rows]).sum(axis=1), probabilities.shape[1] - 1)


def _flag_lists(hits: np.ndarray, names: tuple[str, ...], n: int) -> list[list[str]]:
    lists: list[list[str]] = [_EMPTY] * n
    rows, cols = np.nonzero(hits)
    for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
        if lists[row] is _EMPTY:
            lists[row] = [names[col]]
        else:
            lists[row].append(names[col])
    return lists


@dataclass
class Context:
    """What every hour of one run draws on: its settings, what is served, and the user pool."""

    seed: int
    rate: float
    scenario: Scenario
    serving: Serving
    user_ids: list[str]
    user_p: np.ndarray
    skill: np.ndarray


def new_context(seed: int, rate: float, scenario: Scenario, serving: Serving) -> Context:
    """The run's context, with its user pool drawn from ``seed`` alone."""
    users = np.random.default_rng([seed & SEED_MASK, 0x55534552])
    skill = users.beta(5.0, 3.0, size=scenario.users)
    activity = users.lognormal(0.0, 0.9, size=scenario.users)
    return Context(
        seed=seed,
        rate=rate,
        scenario=scenario,
        serving=serving,
        user_ids=[f"user-{k:04d}" for k in range(scenario.users)],
        user_p=activity / activity.sum(),
        skill=skill,
    )


def _effect_arrays(ctx: Context, hour: datetime):
    """Per (prompt, arm) effect tables; arm 0 = no experiment, 1 control, 2 variant.

    ``cure`` is per (cause, prompt, arm): the factor on each planted cause's rate.
    """
    sc = ctx.scenario
    shape = (len(PROMPT_IDS), 3)
    version = np.ones(shape, dtype=np.int64)
    security = np.ones(shape)
    timeout = np.ones(shape)
    success = np.zeros(shape)
    regression = np.zeros(shape)
    cure = np.ones((len(sc.causes), *shape))
    experiments: list[RunningExperiment | None] = []
    for p, pid in enumerate(PROMPT_IDS):
        control, running = ctx.serving.plan(pid, hour, sc)
        experiments.append(running)
        arms = [(0, control), (1, control)]
        if running is not None:
            arms.append((2, running.variant))
        for arm, served_version in arms:
            effects = text_effects(served_version.text) or {}
            version[p, arm] = served_version.version
            security[p, arm] = effects.get("security_rate_factor", 1.0)
            timeout[p, arm] = effects.get("timeout_rate_factor", 1.0)
            success[p, arm] = effects.get("success_delta", 0.0) + sc.success_effect(served_version.text)
            if REGRESSION_LINE in served_version.text:
                regression[p, arm] = effects.get("regression_factor", 1.0)
            for c, cause in enumerate(sc.causes):
                cure[c, p, arm] = cause.factor(served_version.text)
    return version, security, timeout, success, regression, cure, experiments


def _hour_seed(seed: int, hour: datetime) -> np.random.Generator:
    index = int(hour.timestamp()) // 3600
    return np.random.default_rng([seed & SEED_MASK, index & SEED_MASK, 0x484F5552])


def simulate_hour(ctx: Context, hour: datetime) -> tuple[bytes, int, int, dict[str, list[int]]]:
    """The hour's JSONL bytes, event and session counts, and per-experiment arm counts."""
    sc = ctx.scenario
    rng = _hour_seed(ctx.seed, hour)
    anomalous = hour in sc.anomaly_hours
    lam = ctx.rate * sc.seasonality(hour) * (sc.anomaly_volume if anomalous else 1.0)
    n = int(rng.poisson(lam))
    if n == 0:
        return b"", 0, 0, {}

    # Sessions: lengths 1..5 cut so that they hold exactly n events.
    lengths = rng.choice(5, size=n, p=SESSION_LENGTH_P) + 1
    ends = np.cumsum(lengths)
    m = int(np.searchsorted(ends, n)) + 1
    lengths = lengths[:m].copy()
    lengths[-1] -= int(ends[m - 1]) - n
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    sess = np.repeat(np.arange(m), lengths)
    pos = np.arange(n) - starts[sess]
    last = pos == lengths[sess] - 1

    # Session attributes.
    user_s = rng.choice(len(ctx.user_ids), size=m, p=ctx.user_p)
    task_s = rng.choice(len(TASK_TYPES), size=m, p=TASK_P)
    lang_s = _pick(rng, LANGUAGE_P, task_s)
    cx_s = np.round(rng.beta(COMPLEXITY_A[task_s], COMPLEXITY_B[task_s]), 3)
    band_s = (cx_s >= 0.4).astype(np.int64) + (cx_s >= 0.7)
    tier_s = _pick(rng, TIER_P, band_s)
    model_s = _pick(rng, MODEL_P, tier_s)

    version_t, security_t, timeout_t, success_t, regression_t, cure_t, experiments = _effect_arrays(ctx, hour)
    # Events. Execution ids number the events as generated (``exec_prefix`` +
    # index), so each execution's arm is known before its outcome is drawn.
    user, task, lang, cx = user_s[sess], task_s[sess], lang_s[sess], cx_s[sess]
    tier, model = tier_s[sess], model_s[sess]
    exec_prefix = f"exe-{ctx.seed}-{hour:%Y%m%d%H}-"
    arm = np.zeros(n, dtype=np.int64)
    for p, running in enumerate(experiments):
        if running is not None:
            for i in np.flatnonzero(task == p).tolist():
                variant = assign_arm(running.experiment_id, f"{exec_prefix}{i:06d}", running.split)
                arm[i] = 2 if variant == "variant" else 1
    skill = ctx.skill[user]

    hot = (task == TASK_TYPES.index(sc.security_task_type)) & (lang == LANGUAGES.index(sc.security_language))
    planted_p = np.where(hot, sc.security_rate, sc.background_security_rate)
    planted = rng.random(n) < planted_p * security_t[task, arm]
    others = tuple(i for i in SECURITY_INDICATORS if i != sc.security_indicator)
    other_hits = rng.random((n, len(others))) < sc.background_security_rate
    style_hits = rng.random((n, len(STYLE_INDICATORS))) < STYLE_RATES
    any_security = planted | other_hits.any(axis=1)
    caused = np.zeros(n, dtype=bool)
    cause_drop = np.zeros(n)
    for c, cause in enumerate(sc.causes):
        reach = task == TASK_TYPES.index(cause.task_type)
        if cause.language is not None:
            reach &= lang == LANGUAGES.index(cause.language)
        hit = reach & (rng.random(n) < cause.rate * cure_t[c, task, arm])
        caused |= hit
        cause_drop += cause.success_drop * hit
        if cause.indicator == sc.security_indicator:
            planted |= hit
        elif cause.security:
            other_hits[:, others.index(cause.indicator)] |= hit
        else:
            style_hits[:, STYLE_INDICATORS.index(cause.indicator)] |= hit

    timeout_p = (
        np.where(cx >= sc.timeout_complexity, sc.timeout_rate, sc.background_timeout_rate)
        * timeout_t[task, arm]
    )
    timed_out = rng.random(n) < timeout_p

    if anomalous:
        p0 = np.full(n, sc.anomaly_success)
    else:
        p0 = 1.0 - 0.30 * cx + TIER_SUCCESS[tier] + MODEL_SUCCESS[model] + 0.12 * (skill - 0.5)
        p0 = np.where(last, p0, 0.75 * p0)
    security_drop = np.where(any_security, 0.20, 0.0)
    harm_drop = -success_t[task, arm]
    regression_scale = regression_t[task, arm]
    regression_drop = sc.regression_success_drop * regression_scale
    p = np.clip(p0 - security_drop - harm_drop - regression_drop - cause_drop, 0.02, 0.99)
    u = rng.random(n)
    success = (u < p) & ~timed_out
    failed = ~success & ~timed_out

    # Why it failed: the band of u a planted effect added to the failures, else background.
    band1 = p + security_drop
    band2 = band1 + harm_drop
    band3 = band2 + regression_drop
    cause_security = failed & (security_drop > 0) & (u < band1)
    cause_harm = failed & ~cause_security & (harm_drop > 0) & (u < band2)
    cause_regression = failed & ~cause_security & ~cause_harm & (regression_drop > 0) & (u < band3)
    primary = np.where(failed, rng.choice(len(ERROR_TYPE_NAMES), size=n, p=BACKGROUND_ERROR_P), -1)
    if anomalous:
        primary[failed & (rng.random(n) < 0.75)] = E_RESOURCE
    primary[cause_harm] = E_RUNTIME
    primary[cause_security] = E_VALIDATION
    primary[cause_regression] = E_MISUNDERSTOOD
    primary[timed_out] = E_TIMEOUT
    secondary = failed & (primary != E_TEST) & (rng.random(n) < 0.08)
    message_k = rng.integers(0, 6, size=n)

    duration = rng.lognormal(np.log(7.0) + 2.3 * cx + MODEL_DURATION[model], 0.5)
    if anomalous:
        duration *= 1.6
    duration = np.minimum(duration, 0.97 * sc.timeout_s)
    duration = np.where(timed_out, sc.timeout_s + rng.exponential(1.5, n), duration)

    quality_mean = (
        0.84
        - 0.22 * cx
        + MODEL_QUALITY[model]
        + 0.10 * (skill - 0.5)
        - 0.15 * any_security
        - sc.regression_quality_drop * regression_scale
        - 0.05 * (harm_drop > 0)
        - 0.10 * caused
        - 0.18 * ~success
    )
    quality = np.clip(quality_mean + rng.normal(0.0, 0.07, n), 0.0, 1.0)

    size = rng.lognormal(np.log(SIZE_BASE[task]) + 0.9 * cx, 0.45)
    size = np.where(timed_out, size * rng.uniform(0.2, 0.6, n), size)
    size = np.maximum(size, 1.0).astype(np.int64)
    syntax = np.where(primary == E_SYNTAX, 1 + rng.poisson(0.8, n), 0)

    tokens_in = rng.lognormal(np.log(1400.0) + 0.9 * cx + 0.15 * pos, 0.35)
    overflow = primary == E_CONTEXT
    tokens_in = np.where(
        overflow, MODEL_CONTEXT[model] + rng.lognormal(np.log(4000.0), 0.5, n), tokens_in
    ).astype(np.int64)
    tokens_out = (size * rng.uniform(9.0, 13.0, n)).astype(np.int64)
    cost = (tokens_in * PRICE_IN[model] + tokens_out * PRICE_OUT[model]) / 1e6
    cpu = duration * rng.uniform(0.25, 0.9, n)
    memory = rng.lognormal(np.log(320.0) + 0.9 * cx, 0.3) * (2.5 if anomalous else 1.0)
    memory = np.where(primary == E_RESOURCE, 4096.0, memory)

    coverage = np.clip(rng.normal(0.55 + 0.25 * (task == 3) + 0.15 * (skill - 0.5) - 0.1 * cx, 0.12), 0, 1)
    coverage_null = timed_out | (rng.random(n) < 0.12)
    doc = np.clip(rng.normal(0.62 - 0.15 * cx + MODEL_DOC[model], 0.15), 0, 1)
    doc_null = rng.random(n) < 0.05
    rated = rng.random(n) < np.where(last, 0.6, 0.25)
    satisfaction = np.clip(
        np.rint(1 + 4 * (0.55 * quality + 0.45 * success) + rng.normal(0, 0.6, n)), 1, 5
    ).astype(np.int64)
    accepted_null = rng.random(n) < 0.15
    accepted = last & success & (rng.random(n) < 0.3 + 0.65 * quality)
    commented = rng.random(n) < np.where(success, 0.03, 0.06)
    comment_kind = np.where(timed_out, 3, np.where(planted, 2, np.where(success, 0, 1)))
    comment_k = rng.integers(0, 5, size=n)

    # Timestamps: in order within the session, the session placed inside the hour.
    gap = np.where(pos == 0, 0.0, 3.0 + rng.exponential(25.0, n))
    step = duration + gap
    cumulative = np.cumsum(step)
    offset = cumulative - (cumulative[starts] - step[starts])[sess]
    span = offset[starts + lengths - 1]
    session_start = rng.random(m) * np.maximum(0.0, 3599.0 - span)
    millis = np.minimum(np.floor((session_start[sess] + offset) * 1000), 3_599_999)
    millis = millis.astype(np.int64)
    order = np.argsort(millis, kind="stable")
    base = np.datetime64(hour.replace(tzinfo=None), "ms")
    stamps = np.datetime_as_string(base + millis[order], unit="ms").tolist()

    # Columns in time order.
    def col(values: np.ndarray, decimals: int | None = None) -> list[Any]:
        values = values[order]
        return (np.round(values, decimals) if decimals is not None else values).tolist()

    security_lists = _flag_lists(
        np.column_stack([planted, other_hits])[order], (sc.security_indicator, *others), n
    )
    style_lists = _flag_lists(style_hits[order], STYLE_INDICATORS, n)
    primary_o, secondary_o, message_o = col(primary), col(secondary), col(message_k)
    errors: list[list[dict[str, Any]]] = []
    for kind, extra, k in zip(primary_o, secondary_o, message_o, strict=True):
        if kind < 0:
            errors.append(_EMPTY)
            continue
        options = _ERROR_OBJECTS[kind]
        listed = [options[k % len(options)]]
        if extra:
            tests = _ERROR_OBJECTS[E_TEST]
            listed.append(tests[k % len(tests)])
        errors.append(listed)
    comments: list[str | None] = [None] * n
    for i in np.flatnonzero(commented[order]).tolist():
        pool = COMMENTS[_COMMENT_KINDS[comment_kind[order[i]]]]
        comments[i] = pool[int(comment_k[order[i]]) % len(pool)]
    sats = [s if r else None for s, r in zip(col(satisfaction), col(rated), strict=True)]
    accepts = [None if x else a for a, x in zip(col(accepted), col(accepted_null), strict=True)]
    coverages = [None if x else c for c, x in zip(col(coverage, 3), col(coverage_null), strict=True)]
    docs = [None if x else d for d, x in zip(col(doc, 3), col(doc_null), strict=True)]

    tiers = np.array(TIERS, dtype=object)[tier[order]].tolist()
    tasks = np.array(TASK_TYPES, dtype=object)[task[order]].tolist()
    langs = np.array(LANGUAGES, dtype=object)[lang[order]].tolist()
    models = np.array(MODELS, dtype=object)[model[order]].tolist()
    prompts = np.array(PROMPT_IDS, dtype=object)[task[order]].tolist()
    versions = version_t[task, arm][order].tolist()
    exp_names = np.array([r.experiment_id if r is not None else None for r in experiments], dtype=object)
    exp_ids = np.where(arm[order] > 0, exp_names[task[order]], None).tolist()
    arms = np.array(_ARMS, dtype=object)[arm[order]].tolist()
    users = np.array(ctx.user_ids, dtype=object)[user[order]].tolist()
    sessions = sess[order].tolist()

    tag = f"{hour:%Y%m%d%H}"
    event_prefix = f"sim-{ctx.seed}-{tag}-"
    executions = order.tolist()
    session_prefix = f"ses-{ctx.seed}-{tag}-"
    dumps = orjson.dumps
    newline = orjson.OPT_APPEND_NEWLINE
    lines = []
    for i, row in enumerate(
        zip(
            sessions,
            users,
            stamps,
            tiers,
            tasks,
            langs,
            models,
            prompts,
            versions,
            exp_ids,
            arms,
            col(cx, 3),
            col(size),
            col(success),
            col(duration, 3),
            col(quality, 3),
            col(syntax),
            style_lists,
            security_lists,
            coverages,
            docs,
            sats,
            accepts,
            comments,
            errors,
            col(cpu, 3),
            col(memory, 1),
            col(tokens_in),
            col(tokens_out),
            col(cost, 6),
            strict=True,
        )
    ):
        lines.append(
            dumps(
                {
                    "event_id": f"{event_prefix}{i:06d}",
                    "execution_id": f"{exec_prefix}{executions[i]:06d}",
                    "session_id": f"{session_prefix}{row[0]:05d}",
                    "user_id": row[1],
                    "timestamp": f"{row[2]}Z",
                    "agent_tier": row[3],
                    "task_type": row[4],
                    "language": row[5],
                    "model": row[6],
                    "prompt_id": row[7],
                    "prompt_version": row[8],
                    "experiment_id": row[9],
                    "arm": row[10],
                    "complexity": row[11],
                    "size": row[12],
                    "success": row[13],
                    "duration_s": row[14],
                    "quality_score": row[15],
                    "syntax_errors": row[16],
                    "style_issues": row[17],
                    "security_warnings": row[18],
                    "test_coverage": row[19],
                    "doc_score": row[20],
                    "satisfaction": row[21],
                    "accepted": row[22],
                    "comment": row[23],
                    "errors": row[24],
                    "cpu_s": row[25],
                    "memory_mb": row[26],
                    "tokens_in": row[27],
                    "tokens_out": row[28],
                    "cost_usd": row[29],
                },
                option=newline,
            )
        )

    arm_counts: dict[str, list[int]] = {}
    for p, running in enumerate(experiments):
        if running is not None:
            in_prompt = task == p
            arm_counts[running.experiment_id] = [
                int(np.count_nonzero(in_prompt & (arm == 1))),
                int(np.count_nonzero(in_prompt & (arm == 2))),
            ]
    return b"".join(lines), n, m, arm_counts


# How producers really break the contract: a line cut short, a value of the
# wrong type, a required field missing.
_CORRUPTIONS = (
    lambda line: line[: len(line) // 2],
    lambda line: line.replace(b'"success":true', b'"success":"yes"').replace(
        b'"success":false', b'"success":"no"'
    ),
    lambda line: orjson.dumps({k: v for k, v in orjson.loads(line).items() if k != "session_id"}),
)


def corrupt(data: bytes, rate: float, seed: int, hour: datetime) -> tuple[bytes, int]:
    """Break ``rate`` of the hour's lines (chosen by their own seeded generator)."""
    if rate <= 0 or not data:
        return data, 0
    lines = data.splitlines()
    index = int(hour.timestamp()) // 3600
    rng = np.random.default_rng([seed & SEED_MASK, index & SEED_MASK, 0x4241_4421])
    broken = np.flatnonzero(rng.random(len(lines)) < rate)
    for position in broken:
        lines[position] = _CORRUPTIONS[position % len(_CORRUPTIONS)](lines[position])
    return b"\n".join(lines) + b"\n", len(broken)
