"""The ``aitl`` command: the library's stages and tools outside Airflow.

Start-up: every command imports what it needs when it runs, not before, and
``aitl analyze`` builds its own parser alone, so that a one-off analysis of a
file loads neither SQLAlchemy, the store nor the other commands' modules
(``python -X importtime -m aitl.cli analyze sequences ...`` shows what loads).

A failure of the store (not migrated, read-only, full, unreachable) or of a
file is one line saying what to do, exit status 1; ``aitl --verbose`` adds
the traceback. Store URLs are only ever shown with their password masked.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Callable, Sequence
from datetime import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aitl.cli.common import UsageError, output, scenario, write_json

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from aitl.config import Settings
    from aitl.window import Window


def _window(args: argparse.Namespace) -> Window:
    from aitl.window import Window, parse_utc

    try:
        return Window(parse_utc(args.start), parse_utc(args.end))
    except ValueError as exc:
        raise UsageError(f"--start/--end: {exc}") from None


def _settings(args: argparse.Namespace) -> Settings:
    from aitl.config import ConfigError, Settings

    overrides = _threshold_overrides(args)
    try:
        settings = Settings.from_env(
            store_url=getattr(args, "store", None),
            profile=getattr(args, "profile", None),
            dry_run=getattr(args, "dry_run", False),
            overrides=overrides,
        )
    except ConfigError as exc:
        flag = "--profile" if "profile" in str(exc) else "--threshold"
        raise UsageError(f"{flag}: {exc}") from None
    landing = getattr(args, "landing", None)
    if landing:
        settings = Settings(**{**settings.__dict__, "landing_dir": Path(landing)})
    return settings


# The daily DAG's shortcut params for two thresholds, as flags of aitl run.
THRESHOLD_FLAGS = ("window_days", "sensitivity")


def _threshold_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """``--threshold NAME=VALUE`` and the shortcut flags; VALUE is JSON if it parses, else text (7d)."""
    overrides: dict[str, Any] = {}
    for item in getattr(args, "threshold", None) or []:
        name, equals, text = item.partition("=")
        if not equals or not name:
            raise UsageError(f"--threshold: {item!r} is not NAME=VALUE")
        try:
            overrides[name] = json.loads(text)
        except ValueError:
            overrides[name] = text
    for name in THRESHOLD_FLAGS:
        value = getattr(args, name, None)
        if value is None:
            continue
        if name in overrides:
            raise UsageError(
                f"--{name.replace('_', '-')}: also given as --threshold {name}=...; give it once"
            )
        overrides[name] = value
    return overrides


def _store(settings: Settings) -> Engine:
    """The store's engine, once its schema is known to be this version's (else: run aitl db upgrade)."""
    from aitl.store.database import check_schema, connect

    check_schema(settings.store_url)
    return connect(settings.store_url)


def cmd_db(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from aitl.store import upgrade
    from aitl.store.database import masked_url, store_error

    settings = _settings(args)
    try:
        upgrade(settings.store_url, args.revision)
    except SQLAlchemyError as exc:  # the migrations' engine is Alembic's: name the store here
        raise store_error(exc, settings.store_url) from exc
    print(f"store at {masked_url(settings.store_url)} upgraded to {args.revision}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from aitl.sim.simulate import simulate
    from aitl.store.database import check_schema

    settings = _settings(args)
    if settings.landing_dir is None:
        raise UsageError("--landing: no landing directory (set it or AITL_LANDING_DIR)")
    if args.rate <= 0:
        raise UsageError(f"--rate: must be positive, got {args.rate}")
    if args.files < 1:
        raise UsageError(f"--files: must be at least 1, got {args.files}")
    if not args.no_registry:
        check_schema(settings.store_url)
    report = simulate(
        settings.landing_dir,
        _window(args),
        rate=args.rate,
        seed=args.seed,
        store_url=None if args.no_registry else settings.store_url,
        scenario=scenario(args.scenario),
        files=args.files,
    )
    print(json.dumps(report.as_dict(), sort_keys=True))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from aitl.cycles import stage_doc
    from aitl.pipeline.runner import run_window
    from aitl.store.database import check_schema

    stages = tuple(args.stages.split(",")) if args.stages else None
    for name in stages or ():
        try:
            stage_doc(args.level, name)
        except KeyError as exc:
            raise UsageError(f"--stages: {exc.args[0]}") from None
    window, settings = _window(args), _settings(args)
    unit = "hour" if args.level == "hourly" else "day"
    if args.level == "daily" and any(t.time() != time.min for t in (window.start, window.end)):
        raise UsageError("--start/--end: a daily run covers whole days: give midnights (UTC)")
    check_schema(settings.store_url)
    for part, results in run_window(window, settings, stages, args.level):
        stops = {name: r.stop for name, r in results.items() if r.stop}
        print(json.dumps({unit: part.start.isoformat(), "stages": list(results), "stops": stops}))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from aitl.store import transaction
    from aitl.ui.report import render, summarize

    settings = _settings(args)
    with transaction(_store(settings)) as session:
        summary = summarize(session, _window(args))
    print(json.dumps(summary, default=str, indent=2) if args.json else render(summary))
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    """The daily analytics on a file: anomalies, trend, sequences, patterns."""
    from aitl.cli import analyze

    try:
        if args.what == "anomalies":
            frame, note = analyze.anomalies(Path(args.input), args.time_col, args.value_col, args.sensitivity)
            print(f"aitl analyze: {note}", file=sys.stderr)
            text = frame.to_csv(index=False)
        elif args.what == "trend":
            found, note = analyze.trend(
                Path(args.input), args.time_col, args.value_col, args.higher_is_better
            )
            print(f"aitl analyze: {note}", file=sys.stderr)
            text = json.dumps(found)
        elif args.what == "sequences":
            found = analyze.sequences_of(Path(args.input), args.min_support, args.min_confidence)
            text = json.dumps(found, indent=2)
        else:
            text = json.dumps(analyze.patterns(Path(args.input), args.min_frequency), indent=2)
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    output(args.output, text)
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from aitl.loop.implementation import ReviewError, review
    from aitl.store import transaction

    settings = _settings(args)
    try:
        with transaction(_store(settings)) as session:
            result = review(
                session,
                args.improvement_id,
                args.decision,
                at=datetime.now(UTC),
                thresholds=settings.thresholds,
                reviewer=args.reviewer,
                note=args.note,
                override=args.override,
                allowed_overrides=settings.review_overrides,
            )
    except ReviewError as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(result))
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    from aitl.cli.control import end_experiment
    from aitl.loop.implementation import ReviewError

    settings = _settings(args)
    try:
        result = end_experiment(_store(settings), settings, args)
    except ReviewError as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(result, sort_keys=True, default=str))
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from aitl.loop.registry import RegistryError, history
    from aitl.store import transaction

    settings = _settings(args)
    try:
        with transaction(_store(settings)) as session:
            versions = history(session, args.target)
    except RegistryError as exc:
        raise UsageError(str(exc)) from None
    write_json(None, {"target": args.target, "versions": versions})
    return 0


def cmd_improvements(args: argparse.Namespace) -> int:
    from aitl.cli import listing
    from aitl.store import transaction
    from aitl.store.database import masked_url

    settings = _settings(args)
    try:
        with transaction(_store(settings)) as session:
            # The review command each proposal shows names this store, its password masked.
            store = masked_url(args.store) if args.store else None
            records = listing.improvements(session, status=args.status, kind=args.type, store=store)
    except listing.ListingError as exc:
        raise UsageError(str(exc)) from None
    _print_records(records, args.json, listing.improvement_lines)
    return 0


def cmd_experiments(args: argparse.Namespace) -> int:
    from aitl.cli import listing
    from aitl.store import transaction

    settings = _settings(args)
    try:
        with transaction(_store(settings)) as session:
            records = listing.experiments(session, status=args.status)
    except listing.ListingError as exc:
        raise UsageError(str(exc)) from None
    _print_records(records, args.json, listing.experiment_lines)
    return 0


def _print_records(records: list[dict], as_json: bool, lines: Callable[[list[dict]], list[str]]) -> None:
    """One JSON object per line, or the readable lines."""
    for line in (json.dumps(r) for r in records) if as_json else lines(records):
        print(line)


def cmd_publish(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from aitl.publish.outbox import publish
    from aitl.publish.sinks import sink_from_url

    settings = _settings(args)
    url = args.sink or settings.sink_url
    try:
        sink = sink_from_url(url)
    except ValueError as exc:
        raise UsageError(f"--sink: {exc}") from None
    summary = publish(_store(settings), sink, datetime.now(UTC))
    print(json.dumps(summary, sort_keys=True, default=str))
    return 0 if not summary.get("still_pending") else 1


def cmd_ingest(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from aitl.ingest.collector import Privacy
    from aitl.ingest.importer import UnreadableFile, import_files
    from aitl.store import transaction

    settings = _settings(args)
    try:
        with transaction(_store(settings)) as session:
            report = import_files(
                session, [Path(p) for p in args.files], datetime.now(UTC), Privacy(settings.privacy)
            )
    except UnreadableFile as exc:
        print(f"aitl ingest: {exc}", file=sys.stderr)
        return 1
    keys = ("read", "stored", "duplicates", "quarantined")
    print(json.dumps({**{key: getattr(report, key) for key in keys}, "hours": sorted(report.hours)}))
    return 0


def cmd_quarantine(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from aitl.ingest.collector import Privacy
    from aitl.ingest.replay import replay_quarantine
    from aitl.store import transaction

    if (args.start is None) != (args.end is None):
        raise UsageError("--start/--end: give both or neither")
    window = _window(args) if args.start else None
    settings = _settings(args)
    with transaction(_store(settings)) as session:
        report = replay_quarantine(session, window, datetime.now(UTC), Privacy(settings.privacy))
    print(json.dumps({**report.as_dict(), "hours": sorted(report.hours)}))
    return 0


def cmd_schema(_args: argparse.Namespace) -> int:
    from aitl.ingest.contract import schema

    print(json.dumps(schema(), indent=2))
    return 0


def _version() -> str:
    """The installed distribution's version (pyproject.toml), or why there is none."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aitl")
    except PackageNotFoundError:
        return "unknown (not installed: run from source)"


def _root_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    """The ``aitl`` parser with its global options, and the action its commands are added to."""
    parser = argparse.ArgumentParser(prog="aitl", description=__doc__)
    parser.add_argument("--version", action="version", version=f"aitl {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="on a failure, print its traceback too")
    return parser, parser.add_subparsers(dest="command", required=True)


def _parser_for(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser for this command line: ``aitl analyze ...`` alone, or every command.

    The analyses of a file are one-off runs where start-up is most of the time;
    their parser needs none of the other commands' modules.
    """
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    if command != "analyze":
        return build_parser()
    parser, commands = _root_parser()
    _add_analyze_parser(commands)
    return parser


def build_parser() -> argparse.ArgumentParser:
    from aitl.cli.control import add_experiment_parser
    from aitl.cli.evaluate import add_evaluate_parser
    from aitl.config import OVERRIDABLE_GATES

    parser, commands = _root_parser()

    def with_store(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--store", help="SQLAlchemy URL of the AITL store (default: AITL_STORE_URL)")
        return p

    def with_window(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--start", required=True, help="window start, ISO 8601 (UTC if no offset)")
        p.add_argument("--end", required=True, help="window end (exclusive)")
        return p

    db = with_store(commands.add_parser("db", help="store migrations"))
    db.add_argument("action", choices=["upgrade"])
    db.add_argument("--revision", default="head")
    db.set_defaults(func=cmd_db)

    sim = with_window(with_store(commands.add_parser("simulate", help="write simulated traffic")))
    sim.add_argument("--rate", type=float, default=400.0, help="mean events per hour")
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument("--landing", help="landing directory (default: AITL_LANDING_DIR)")
    sim.add_argument(
        "--scenario", help="preset (null: every planted effect off) or JSON file overriding the ground truth"
    )
    sim.add_argument("--no-registry", action="store_true", help="do not read or publish prompts")
    sim.add_argument("--files", type=int, default=1, help="files per hour, lines dealt over them (default 1)")
    sim.set_defaults(func=cmd_simulate)

    run = with_window(
        with_store(commands.add_parser("run", help="run the hourly cycle per hour, or the daily per day"))
    )
    run.add_argument(
        "--level", choices=["hourly", "daily"], default="hourly", help="which cycle (default hourly)"
    )
    run.add_argument("--landing")
    run.add_argument("--profile", help="production, staging or development")
    run.add_argument("--dry-run", action="store_true", help="analyze and plan, launch nothing")
    run.add_argument(
        "--stages", help="only these stages, comma-separated (collect,normalize brings history in)"
    )
    run.add_argument(
        "--threshold",
        action="append",
        metavar="NAME=VALUE",
        help="override a threshold for this run (repeatable), e.g. alpha=0.01 or ab_test_duration=7d",
    )
    run.add_argument(
        "--window-days", type=int, help="the daily cycle's trailing window (threshold window_days)"
    )
    run.add_argument(
        "--sensitivity", type=float, help="the daily anomaly sensitivity (threshold sensitivity)"
    )
    run.set_defaults(func=cmd_run)

    rep = with_window(with_store(commands.add_parser("report", help="summarize what the runs did")))
    rep.add_argument("--json", action="store_true")
    rep.set_defaults(func=cmd_report)

    _add_analyze_parser(commands)

    add_evaluate_parser(commands)

    rev = with_store(commands.add_parser("review", help="approve or reject a proposed improvement"))
    rev.add_argument("improvement_id")
    rev.add_argument("decision", choices=["approve", "reject"])
    rev.add_argument("--note", default="", help="why (kept with the improvement)")
    rev.add_argument("--reviewer", default="cli")
    # No --profile: a review acts under the deployment's profile (AITL_PROFILE), as the review DAG does.
    rev.add_argument(
        "--override",
        choices=OVERRIDABLE_GATES,
        help="set this gate aside, where AITL_REVIEW_OVERRIDES allows it (needs --note)",
    )
    rev.set_defaults(func=cmd_review)
    add_experiment_parser(commands, with_store, cmd_experiment)

    hist = with_store(commands.add_parser("history", help="every version of a prompt or setting"))
    hist.add_argument("target", help="a prompt id (api_endpoint-gen) or a setting (model:refactor)")
    hist.set_defaults(func=cmd_history)

    imps = with_store(commands.add_parser("improvements", help="list improvements, newest first"))
    imps.add_argument("--status", help="only this status (planned, proposed, running, ...)")
    imps.add_argument("--type", help="only this type (prompt_refinement, workflow_optimization, ...)")
    imps.add_argument("--json", action="store_true", help="one JSON object per line")
    imps.set_defaults(func=cmd_improvements)

    exps = with_store(commands.add_parser("experiments", help="list experiments, newest first"))
    exps.add_argument("--status", help="only this status (running, promoted, rolled_back, inconclusive)")
    exps.add_argument("--json", action="store_true", help="one JSON object per line")
    exps.set_defaults(func=cmd_experiments)

    pub = with_store(commands.add_parser("publish", help="deliver queued decisions through a sink"))
    pub.add_argument("--sink", help="file path, http(s) URL or SQLAlchemy URL (default: AITL_SINK_URL)")
    pub.set_defaults(func=cmd_publish)

    ing = with_store(
        commands.add_parser(
            "ingest", help="import JSONL/CSV/OpenTelemetry exports, each event into its own hour"
        )
    )
    ing.add_argument(
        "files",
        nargs="+",
        help="JSONL files (CSV by the .csv suffix, OTLP/JSON spans by .otlp.json or .otlp.jsonl)",
    )
    ing.set_defaults(func=cmd_ingest)

    quarantine = commands.add_parser("quarantine", help="work on quarantined records")
    actions = quarantine.add_subparsers(dest="action", required=True)
    rep_q = with_store(
        actions.add_parser("replay", help="re-check quarantined records, store those that pass")
    )
    rep_q.add_argument("--start", help="only records quarantined by runs from this instant (ISO 8601)")
    rep_q.add_argument("--end", help="... up to this one (exclusive)")
    rep_q.set_defaults(func=cmd_quarantine)

    commands.add_parser("schema", help="print the feedback-event JSON Schema").set_defaults(func=cmd_schema)
    return parser


def _add_analyze_parser(commands: argparse._SubParsersAction) -> None:
    """``aitl analyze anomalies|trend|sequences|patterns``: the analyses of a file."""
    analyze = commands.add_parser("analyze", help="run an analysis on a file (notebooks, investigations)")
    kinds = analyze.add_subparsers(dest="what", required=True)
    for name, text in (
        ("anomalies", "flag anomalous points of a series (CSV)"),
        ("trend", "trend of a series"),
    ):
        series = kinds.add_parser(name, help=text)
        series.add_argument(
            "--input",
            required=True,
            help="CSV with a time and a value column, as exported: rows in any order, duplicate "
            "timestamps (averaged), gaps and uneven intervals are put on a regular grid (one line on stderr)",
        )
        series.add_argument("--time-col", default="timestamp")
        series.add_argument("--value-col", default="value")
        series.add_argument("--output", help="file to write (default: standard output)")
        series.set_defaults(func=cmd_analyze)
    kinds.choices["anomalies"].add_argument(
        "--sensitivity",
        type=float,
        default=0.95,
        help="1 - the false discovery rate of anomalous points; a clean series has no episode "
        "with probability about sensitivity",
    )
    kinds.choices["trend"].add_argument(
        "--lower-is-better",
        dest="higher_is_better",
        action="store_false",
        help="the metric improves when it falls (durations, error rates)",
    )
    seqs = kinds.add_parser("sequences", help="frequent sequences and rules of sessions (one per line)")
    seqs.add_argument("--input", required=True)
    seqs.add_argument("--min-support", type=float, default=0.1)
    seqs.add_argument("--min-confidence", type=float, default=0.7)
    seqs.add_argument("--output")
    seqs.set_defaults(func=cmd_analyze)
    pats = kinds.add_parser("patterns", help="frequency and correlation patterns of events (JSONL)")
    pats.add_argument("--input", required=True)
    pats.add_argument("--min-frequency", type=int, default=5)
    pats.add_argument("--output")
    pats.set_defaults(func=cmd_analyze)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser_for(sys.argv[1:] if argv is None else argv).parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"aitl {args.command}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if not _reported(exc):
            raise
        if args.verbose:
            traceback.print_exc()
        print(f"aitl {args.command}: {_failure(args, exc)}", file=sys.stderr)
        return 1


def _reported(error: Exception) -> bool:
    """Whether ``error`` is a failure of the store, another database or a file (one line, status 1).

    SQLAlchemy is imported here, on a failure, since many commands never load it.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from aitl.store.database import StoreError

    return isinstance(error, (StoreError, SQLAlchemyError, OSError))


def _failure(args: argparse.Namespace, error: Exception) -> str:
    """The one line for a failure of the store, another database or a file, with what to do."""
    from sqlalchemy.exc import SQLAlchemyError

    from aitl.store.database import StoreError, store_error

    if isinstance(error, StoreError):
        return str(error)
    if isinstance(error, SQLAlchemyError):
        try:
            store = _settings(args).store_url
        except UsageError:
            store = None
        return str(store_error(error, store))
    where = f": {error.filename}" if error.filename else ""
    return f"{error.strerror or error}{where}"
