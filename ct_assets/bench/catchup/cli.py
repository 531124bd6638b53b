"""`ct bench catchup`: the arguments (light: `--help` imports no Dagster) and the command."""

import argparse
import datetime as dt
from pathlib import Path

from rich.console import Console

from ct_assets.bench import reporting

DEFAULTS = {"through": "2013-12-31", "serve_from": "2013-02-01", "interval": 2,
            "until": "caught-up", "window": None, "holdout": None, "launcher": "project",
            "imports": False, "baseline": None}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--through", default=DEFAULTS["through"], metavar="YYYY-MM-DD",
                        help="land every day of the partitions up to this one, at once "
                             "(default 2013-12-31: the year)")
    parser.add_argument("--serve-from", default=DEFAULTS["serve_from"], metavar="YYYY-MM-DD",
                        help="the day the first champion serves (CT_SERVE_FROM; default "
                             "2013-02-01, the first day of `ct bench policies`); 'none' for "
                             "the project's rule: the day after the newest featurised day")
    parser.add_argument("--interval", type=int, default=DEFAULTS["interval"], metavar="S",
                        help="minimum interval of every sensor, seconds (CT_SENSOR_INTERVAL_S; "
                             "default 2: every daemon loop); 0 for each sensor's own (15 s "
                             "landing, 30 s the others), as `make dev` runs")
    parser.add_argument("--until", choices=("caught-up", "first-champion"),
                        default=DEFAULTS["until"],
                        help="stop when the loop has caught up (default), or at the first "
                             "champion (what `make dev` waits for)")
    parser.add_argument("--window", type=int, default=None, help="training window, days "
                        "(CT_WINDOW_DAYS; default: the project's)")
    parser.add_argument("--holdout", type=int, default=None, help="held-out days of the "
                        "window (CT_HOLDOUT_DAYS; default: the project's)")
    parser.add_argument("--launcher", choices=("project", "default"),
                        default=DEFAULTS["launcher"],
                        help="run launcher: the project's dagster.yaml (default: runs forked "
                             "from a preloaded forkserver, ct_assets/launcher.py), or Dagster's "
                             "default (a fresh interpreter per run: the before)")
    parser.add_argument("--imports", action="store_true",
                        help="instead of a catch-up: measure `python -X importtime -c 'import "
                             "ct_assets.definitions'` (time, peak memory, heaviest modules) and "
                             "write it under `imports` in catchup.json")
    parser.add_argument("--baseline", metavar="CHECKOUT",
                        help="the before: with --imports, also measure another checkout of the "
                             "project (e.g. main's); without, run the loop on that checkout's "
                             "code and dagster.yaml (untraced: no time in core/; its loop "
                             "may not know CT_SERVE_FROM, so use it with --serve-from none)")
    parser.add_argument("--quiet-s", type=float, default=None, metavar="S",
                        help="how long the caught-up state must last, unchanged, to count "
                             "(not part of the wall time; default 3 sensor intervals, at "
                             "least 15 s)")
    parser.add_argument("--timeout", type=float, default=3 * 3600, metavar="S",
                        help="give up after this many seconds (default 3 h)")
    parser.add_argument("--no-floor", action="store_true",
                        help="skip the direct core calls and the replay's decisions")
    parser.add_argument("--label", help="name of this bench in catchup.json (default: from "
                                        "the days and the interval)")
    parser.add_argument("--out", default=reporting.DEFAULT_OUT,
                        help="folder for catchup.json/.md/.png (default docs/benchmarks)")
    parser.add_argument("--note", help="a sentence about the conditions, kept in the .md")
    parser.add_argument("--keep", help="copy the data dir, the instance and the logs here")


def _label(args, days: int) -> str:
    if args.label:
        return args.label
    interval = f"sensors every {args.interval} s" if args.interval else \
        "each sensor's own interval"
    return f"{days} days, {interval}" + (", to the first champion"
                                         if args.until == "first-champion" else "") + (
        ", Dagster's default run launcher" if args.launcher == "default" else "") + (
        f", code of {args.baseline}" if args.baseline else "")


def run(args: argparse.Namespace, console: Console) -> int:
    """Land, run the live loop until it has caught up, measure the floor, write the files."""
    from ct_assets.bench.catchup.bench import bench
    from ct_assets.bench.catchup.report import print_result, write_outputs
    from ct_assets.core.days import parse_day
    from ct_assets.settings import Settings

    if args.imports:
        return _imports(args, console)
    settings = Settings.from_env()
    try:
        through = parse_day(args.through)
        serve_from = None if args.serve_from == "none" else parse_day(args.serve_from)
        if not settings.start <= through < settings.end:
            raise ValueError(f"--through {through} is outside the partitions "
                             f"{settings.start} .. {settings.end}")
        if serve_from is not None and not settings.start < serve_from <= through:
            raise ValueError(f"--serve-from {serve_from} must be after {settings.start} and "
                             f"not after --through {through}")
        if args.interval < 0:
            raise ValueError("--interval must be 0 (the project's defaults) or more")
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    days = (through - settings.start).days + 1
    options = reporting.changed_options(args, DEFAULTS)
    result = bench(args, console, first=settings.start, through=through,
                   serve_from=serve_from, keep=Path(args.keep) if args.keep else None)
    result.update(label=_label(args, days), command=" ".join(["ct bench catchup", *options]),
                  note=args.note or "")
    print_result(result, console)
    console.print(reporting.written(write_outputs(result, Path(args.out))))
    ok = (result["caught_up"] and not result["failed_runs"]
          and result.get("decisions_match", True) is not False)
    return 0 if ok else 1


def _imports(args: argparse.Namespace, console: Console) -> int:
    from ct_assets.bench.catchup.imports import measure_imports
    from ct_assets.bench.catchup.report import print_imports, write_imports

    checkouts = {"this checkout": Path(__file__).resolve().parents[3]}
    if args.baseline:
        checkouts = {"baseline": Path(args.baseline).resolve(), **checkouts}
    result = measure_imports(checkouts)
    print_imports(result, console)
    console.print(reporting.written(write_imports(result, Path(args.out))))
    return 0


def day_list(first: dt.date, through: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((through - first).days + 1)]
