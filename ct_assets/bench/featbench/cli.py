"""`ct bench features`: the arguments (light: `ct bench features --help` imports no pandas) and
the command, which imports the bench when it runs."""

import argparse
import datetime as dt

from rich.console import Console

from ct_assets.bench import reporting
from ct_assets.core.days import parse_day

DEFAULTS = {"start": "2013-01-01", "end": "2014-01-01", "repeat": 3, "check_days": 31}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", default=DEFAULTS["start"])
    parser.add_argument("--end", default=DEFAULTS["end"])
    parser.add_argument("--repeat", type=int, default=DEFAULTS["repeat"])
    parser.add_argument("--check-days", type=int, default=DEFAULTS["check_days"])
    parser.add_argument("--out", default=reporting.DEFAULT_OUT,
                        help="folder of features.json and features.md (default docs/benchmarks)")


def run(args: argparse.Namespace, console: Console) -> int:
    """`ct bench features`: measure both, cross-check them, print the table, write
    features.json / features.md. Exit 1 if the two disagree."""
    from ct_assets.bench import features as bench
    from ct_assets.bench.featbench import report

    start, end = parse_day(args.start), parse_day(args.end)
    results = []
    with reporting.progress(console) as bar:
        task = bar.add_task("benchmark", total=4)
        for name in ("duckdb", "pandas"):
            bar.update(task, description=f"{name}: building features")
            results.append(bench.measure(name, start, end, args.repeat))
            bar.advance(task)
        bar.update(task, description="cross-checking the two")
        worst = bench.compare(start, min(end, start + dt.timedelta(days=args.check_days)))
        bar.advance(task)
        bar.update(task, description="point-in-time audit of the weather join")
        audit = bench.weather_audit(start, end)
        bar.advance(task)
    command = " ".join(["ct bench features", *reporting.changed_options(args, DEFAULTS)])
    doc = report.document(args, start, end, results, worst, command)
    doc["point_in_time"] = audit
    report.print_result(doc, console)
    console.print(reporting.written(report.write_outputs(doc, args.out)))
    leaks = audit["declared"]["weather_not_yet_known"]
    return 0 if worst < 1e-6 and leaks == 0 else 1
