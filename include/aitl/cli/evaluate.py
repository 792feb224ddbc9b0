"""``aitl evaluate aa|power|loop|settings``: the decision statistics checked on simulated traffic.

Each command drives the real decision code against a scratch store and writes
its JSON result (``aitl.sim.evaluate``, ``aitl.sim.settings_eval``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from aitl.cli.common import UsageError, scenario, write_json


def _aa_conditions(args: argparse.Namespace) -> dict[str, object]:
    """``evaluate aa``'s traffic and decision conditions: overrun, running time, online FDR, SRM."""
    from aitl.config import Thresholds
    from aitl.durations import parse_duration

    if args.overrun is not None and not 0 < args.overrun <= 100:
        raise UsageError(f"--overrun: must be in (0, 100], got {args.overrun}")
    if args.srm_share is not None and not 0 < args.srm_share < 1:
        raise UsageError(f"--srm-share: must be in (0, 1), got {args.srm_share}")
    overrides: dict[str, object] = {}
    if args.ab_test_duration is not None:
        try:
            parse_duration(args.ab_test_duration)
        except ValueError as exc:
            raise UsageError(f"--ab-test-duration: {exc}") from None
        overrides["ab_test_duration"] = args.ab_test_duration
    return {
        "overrun": args.overrun,
        "online_fdr": not args.no_online_fdr,
        "variant_share": args.srm_share,
        "thresholds": Thresholds.resolve(overrides=overrides),
    }


def cmd_evaluate(args: argparse.Namespace) -> int:
    from aitl.sim import evaluate
    from aitl.sim.scenario import Scenario

    with tempfile.TemporaryDirectory(prefix="aitl-evaluate-") as scratch:
        if args.what == "loop":
            if args.weeks < 1:
                raise UsageError(f"--weeks: must be at least 1, got {args.weeks}")
            if args.causes < 0:
                raise UsageError(f"--causes: must be at least 0, got {args.causes}")
            planted = scenario(args.scenario)
            if args.causes:
                planted = (planted or Scenario()).with_random_causes(args.causes, args.seed)
            result = evaluate.run_loop(
                Path(scratch),
                days=7 * args.weeks,
                seed=args.seed,
                rate=args.rate,
                scenario=planted,
                profile=args.profile,
                progress=lambda day: print(json.dumps(day), file=sys.stderr),
            )
        else:
            effect = args.effect if args.what == "power" else 0.0
            if args.experiments < 1:
                raise UsageError(f"--experiments: must be at least 1, got {args.experiments}")
            conditions = _aa_conditions(args) if args.what == "aa" else {}
            try:
                result = evaluate.evaluate_experiments(
                    f"sqlite:///{Path(scratch) / 'evaluate.db'}",
                    experiments=args.experiments,
                    seed=args.seed,
                    effect=effect,
                    concurrent=args.concurrent,
                    **conditions,
                )
            except ValueError as exc:
                raise UsageError(f"--effect: {exc}") from None
    write_json(args.output, result)
    return 0


def cmd_evaluate_settings(args: argparse.Namespace) -> int:
    from aitl.sim.settings_eval import evaluate_settings

    with tempfile.TemporaryDirectory(prefix="aitl-evaluate-") as scratch:
        try:
            result = evaluate_settings(
                f"sqlite:///{Path(scratch) / 'settings.db'}",
                experiments=args.experiments,
                seed=args.seed,
                day_sd=args.day_sd,
                effect=args.effect,
            )
        except ValueError as exc:
            raise UsageError(f"--experiments/--day-sd/--effect: {exc}") from None
    write_json(args.output, result)
    return 0


def add_evaluate_parser(commands: Any) -> None:
    """``aitl evaluate aa|power|loop|settings`` and their flags (docs/cli.md)."""
    evaluate = commands.add_parser("evaluate", help="check the decision statistics on simulated experiments")
    checks = evaluate.add_subparsers(dest="what", required=True)
    for name, text in (
        ("aa", "A/A experiments: how often is nothing promoted or rolled back (false decisions)"),
        ("power", "experiments with a known effect: how often is it promoted (or rolled back)"),
    ):
        check = checks.add_parser(name, help=text)
        check.add_argument("--experiments", type=int, default=200)
        check.add_argument("--concurrent", type=int, default=5, help="experiments deciding side by side")
        check.add_argument("--seed", type=int, default=7)
        check.add_argument("--output", help="JSON file to write (default: standard output)")
        check.set_defaults(func=cmd_evaluate)
    checks.choices["power"].add_argument(
        "--effect", type=float, default=0.05, help="variant minus control success rate (negative: harm)"
    )
    aa = checks.choices["aa"]
    aa.add_argument(
        "--overrun",
        type=float,
        help="launch at 10:00 with traffic reaching X times the planned size by the first daily look",
    )
    aa.add_argument("--ab-test-duration", help="minimum running time before a promotion (e.g. 7d)")
    aa.add_argument(
        "--no-online-fdr",
        action="store_true",
        help="judge each experiment at its own alpha, without the online FDR levels of the stream",
    )
    aa.add_argument(
        "--srm-share",
        type=float,
        help="the variant's actual share of traffic (a sample-ratio mismatch); runs up to 21 days",
    )
    loop = checks.add_parser("loop", help="the closed loop on simulated traffic, scored against the truth")
    loop.add_argument("--weeks", type=int, default=4)
    loop.add_argument("--seed", type=int, default=7)
    loop.add_argument("--rate", type=float, default=1000.0, help="mean events per hour")
    loop.add_argument("--scenario", help="preset or JSON scenario file (docs/simulator.md, 'Scenario files')")
    loop.add_argument(
        "--causes",
        type=int,
        default=0,
        help="add this many failure causes drawn from --seed, with drawn remedy effects (docs/simulator.md)",
    )
    loop.add_argument("--profile", default="development", help="environment profile of the loop")
    loop.add_argument("--output", help="JSON file to write (default: standard output)")
    loop.set_defaults(func=cmd_evaluate)
    sets = checks.add_parser("settings", help="settings changed before/after: how often rolled back")
    sets.add_argument("--experiments", type=int, default=200, help="setting changes, one after another")
    sets.add_argument("--seed", type=int, default=7)
    sets.add_argument("--day-sd", type=float, default=0.02, help="task type's day-to-day SD of success")
    sets.add_argument("--effect", type=float, default=0.0, help="the change's effect on success rate")
    sets.add_argument("--output", help="JSON file to write (default: standard output)")
    sets.set_defaults(func=cmd_evaluate_settings)
