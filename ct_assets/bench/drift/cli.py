"""`ct bench drift`: the arguments (light: `ct bench drift --help` imports no pandas) and the
command, which imports the bench when it runs."""

import argparse
import json
from importlib import metadata
from pathlib import Path

from rich.console import Console

from ct_assets.bench import reporting
from ct_assets.bench.drift.shifts import SHIFTS
from ct_assets.core.days import parse_day

INSTALL_HINT = ".venv/bin/pip install --constraint requirements.lock --editable '.[dev,bench]'"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", default="2013-02-01", metavar="YYYY-MM-DD",
                        help="first checked day (default 2013-02-01: January is its reference)")
    parser.add_argument("--end", default="2014-01-01", metavar="YYYY-MM-DD",
                        help="day after the last checked day (default 2014-01-01)")
    parser.add_argument("--window", type=int, default=28,
                        help="reference window: the days before each checked day (default 28)")
    parser.add_argument("--inject-every", type=int, default=7, metavar="DAYS",
                        help="inject the shifts into every DAYS-th day (default 7; 0: none)")
    parser.add_argument("--evidently-every", type=int, default=1, metavar="DAYS",
                        help="Evidently on every DAYS-th clean day (default 1: all; raise it "
                             "if too slow); injected days always run both")
    parser.add_argument("--shifts", default=",".join(s.key for s in SHIFTS),
                        help="comma-separated shifts to inject (default all: "
                             + ", ".join(s.key for s in SHIFTS) + ")")
    parser.add_argument("--no-evidently", action="store_true",
                        help="ours only (Evidently is the optional `bench` extra)")
    parser.add_argument("--seed", type=int, default=2013, help="seed of the random injections")
    parser.add_argument("--out", default=reporting.DEFAULT_OUT,
                        help="folder of drift.md, drift.png, drift.json (default docs/benchmarks)")
    parser.add_argument("--note", help="a sentence about the conditions, kept in drift.md")
    parser.add_argument("--render-only", action="store_true",
                        help="only rewrite drift.md and drift.png from OUT/drift.json")


def run(args: argparse.Namespace, console: Console) -> int:
    """`ct bench drift`: run, print the tables, write drift.json / drift.md / drift.png."""
    from ct_assets.bench.drift.analysis import false_alarms, summarise
    from ct_assets.bench.drift.run import document
    from ct_assets.core import feature_drift

    if args.render_only:
        source = Path(args.out) / "drift.json"
        if not source.exists():
            console.print(f"[red]error:[/red] {source} does not exist")
            return 2
        doc = json.loads(source.read_text())
        doc["summary"], doc["false_alarms_ours"] = (summarise(doc["records"]),
                                                    false_alarms(doc["records"]))
        if args.note:
            doc["meta"]["note"] = args.note
        return _publish(doc, Path(args.out), console)
    start, end = parse_day(args.start), parse_day(args.end)
    if end <= start:
        console.print(f"[red]error:[/red] --end {end} is not after --start {start}")
        return 2
    if args.window < feature_drift.MIN_CALIBRATION_DAYS:
        console.print(f"[red]error:[/red] --window must be at least "
                      f"{feature_drift.MIN_CALIBRATION_DAYS} days (calibration)")
        return 2
    known = {s.key: s for s in SHIFTS}
    keys = [k.strip() for k in args.shifts.split(",") if k.strip()]
    unknown = [k for k in keys if k not in known]
    if unknown:
        console.print(f"[red]error:[/red] unknown shift(s) {', '.join(unknown)}; known: "
                      + ", ".join(known))
        return 2
    if not args.no_evidently:
        try:
            metadata.version("evidently")
        except metadata.PackageNotFoundError:
            console.print("[red]error:[/red] Evidently is not installed (the optional `bench` "
                          f"extra): {INSTALL_HINT}, or run with --no-evidently")
            return 2
    doc = document(args, start, end, tuple(known[k] for k in keys), console)
    if doc is None:
        console.print("[red]error:[/red] no day in the range had features and a reference")
        return 2
    return _publish(doc, Path(args.out), console)


def _publish(doc: dict, out: Path, console: Console) -> int:
    """Print the tables and write drift.json / drift.md / drift.png."""
    from ct_assets.bench.drift.report import print_result, write_outputs

    print_result(doc, console)
    console.print(reporting.written(write_outputs(doc, out)))
    return 0
