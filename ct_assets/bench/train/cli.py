"""`ct bench train`: the arguments (light: `ct bench train --help` imports no Dagster) and the
command, which imports the bench when it runs."""

import argparse

from rich.console import Console

from ct_assets.bench import reporting
from ct_assets.core.days import parse_day

DEFAULTS = {"day": "2013-03-01", "window": 28, "holdout": 3, "history_days": 29,
            "month_days": 30, "n_estimators": 300}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--day", default=DEFAULTS["day"], help="the partition to train")
    parser.add_argument("--window", type=int, default=DEFAULTS["window"])
    parser.add_argument("--holdout", type=int, default=DEFAULTS["holdout"])
    parser.add_argument("--history-days", type=int, default=DEFAULTS["history_days"],
                        help="days before the window, for the features' 28-day rates")
    parser.add_argument("--month-days", type=int, default=DEFAULTS["month_days"])
    parser.add_argument("--n-estimators", type=int, default=DEFAULTS["n_estimators"])
    parser.add_argument("--out", default=reporting.DEFAULT_OUT,
                        help="folder of train.json and train.md (default docs/benchmarks)")


def run(args: argparse.Namespace, console: Console) -> int:
    """`ct bench train`: measure, print the table, write train.json / train.md."""
    from ct_assets.bench.train import report
    from ct_assets.bench.train.run import month_of_retrains, one_partition

    day = parse_day(args.day)
    total = args.window + args.history_days + 2
    with reporting.progress(console) as bar:
        task = bar.add_task("preparing a warehouse through Dagster", total=total + 2)
        rows = one_partition(day, args.window, args.holdout, args.n_estimators,
                             args.history_days, progress=lambda n=1: bar.advance(task, n))
        bar.update(task, description=f"a month of daily retrains from {day}")
        rows.append(month_of_retrains(day, args.month_days, args.window, args.holdout,
                                      args.n_estimators))
        bar.advance(task, 2)
    command = " ".join(["ct bench train", *reporting.changed_options(args, DEFAULTS)])
    doc = report.document(args, day, rows, command)
    report.print_result(doc, console)
    console.print(reporting.written(report.write_outputs(doc, args.out)))
    return 0
