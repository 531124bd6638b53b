"""`ct bench pipeline`: the arguments (light: `ct bench pipeline --help` imports no Dagster) and
the command, which imports the bench when it runs."""

import argparse
from pathlib import Path

from rich.console import Console

from ct_assets.bench import cluster as scale_out
from ct_assets.bench import reporting
from ct_assets.bench.pipeline.plan import DEFAULT_FIRST, MULTIPROCESS, PROJECT, make_plan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=30, help="measured days (default 30)")
    parser.add_argument("--year", action="store_true",
                        help="measure every day of the partitions (no warm-up; training from "
                             "the first day with a full window)")
    parser.add_argument("--first", default=DEFAULT_FIRST.isoformat(), metavar="YYYY-MM-DD",
                        help="first measured day; the days before it are warm-up "
                             "(default 2013-02-01)")
    parser.add_argument("--scales", default="1,10",
                        help="volumes to compare, comma-separated (default 1,10)")
    parser.add_argument("--out", default=reporting.DEFAULT_OUT,
                        help="folder for pipeline.json/.md/.png (default docs/benchmarks)")
    parser.add_argument("--window", type=int, default=28, help="training window, days")
    parser.add_argument("--holdout", type=int, default=3, help="held-out days of the window")
    parser.add_argument("--n-estimators", type=int, default=None,
                        help="trees per candidate (default: TrainConfig's)")
    parser.add_argument("--executor", choices=(PROJECT, MULTIPROCESS), default=PROJECT,
                        help="how the measured runs execute: project (default): as the "
                             "project's instance runs them, each run in a process forked from "
                             "the run launcher's warm forkserver and its steps in that process; "
                             "multiprocess: Dagster's multiprocess executor, a process per step")
    parser.add_argument("--start-method", choices=("spawn", "forkserver"), default="spawn",
                        help="with --executor multiprocess: how step processes start (default "
                             "spawn, Dagster's default)")
    parser.add_argument("--max-concurrent", type=int, default=0,
                        help="steps at once per run (default 0: one per core)")
    parser.add_argument("--note", help="a sentence about the conditions, kept in the .md")
    parser.add_argument("--keep", help="copy each scale's data dir and logs here")
    scale_out.add_arguments(parser)          # --cluster, --warehouses [--scan], --workers


def run(args: argparse.Namespace, console: Console) -> int:
    """`ct bench pipeline`: every scale, the tables, pipeline.json / .md / .png; with a
    scale-out flag, the benchmark of `ct_assets.bench.cluster` instead."""
    if args.cluster or args.warehouses:
        return scale_out.run(args, console)
    from ct_assets.bench.pipeline.measure import bench_scale
    from ct_assets.bench.pipeline.report import print_result, write_outputs

    try:
        plan = make_plan(args)
        scales = [int(s) for s in str(args.scales).split(",") if s.strip()]
        if not scales or min(scales) < 1:
            raise ValueError(f"--scales {args.scales!r}: positive integers, e.g. 1,10")
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    keep = Path(args.keep) if args.keep else None
    results = {}
    started = reporting.local_time()
    with reporting.progress(console) as bar:
        try:
            results = {str(s): bench_scale(s, plan, bar, keep) for s in scales}
        except RuntimeError as exc:
            console.print(f"[red]failed:[/red] {exc}")
            return 1
    result = {
        "label": plan["label"], "first": plan["days"][0], "last": plan["days"][-1],
        "measured_days": len(plan["days"]), "warmup_days": len(plan["warmup_days"]),
        "trained_from": plan["trained_from"], "train_config": plan["train_config"],
        "start_method": plan["start_method"], "max_concurrent": plan["max_concurrent"],
        "executor": plan["executor"],
        "measured_at": started,
        "machine": reporting.machine_info() | reporting.package_versions(["dagster"]),
        "note": args.note or "", "scales": results,
    }
    print_result(result, console)
    console.print(reporting.written(write_outputs(result, Path(args.out))))
    failed = sum(len(s["failed_runs"]) for s in results.values())
    return 1 if failed else 0
