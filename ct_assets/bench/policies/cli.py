"""`ct bench policies`: the arguments (light: `ct bench policies --help` imports no pandas) and
the command, which imports the bench when it runs."""

import argparse
import json
from pathlib import Path

from rich.console import Console

from ct_assets.bench import reporting
from ct_assets.bench.policies.specs import DEFAULT_END, DEFAULT_SPLIT, DEFAULT_START
from ct_assets.core.days import parse_day


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", default=DEFAULT_START.isoformat(), metavar="YYYY-MM-DD",
                        help="first served day (default 2013-02-01: January trains the first "
                             "model)")
    parser.add_argument("--split", default=DEFAULT_SPLIT.isoformat(), metavar="YYYY-MM-DD",
                        help="first day of the report period; every parameter is tuned on "
                             "[start, split) (default 2013-07-01)")
    parser.add_argument("--end", default=DEFAULT_END.isoformat(), metavar="YYYY-MM-DD",
                        help="day after the last served day (default 2014-01-01)")
    parser.add_argument("--out", default=reporting.DEFAULT_OUT,
                        help="folder of policies.json/.md/.png (default docs/benchmarks)")
    parser.add_argument("--window", type=int, default=None,
                        help="training window, days (default: production's RetrainSpec)")
    parser.add_argument("--holdout", type=int, default=None,
                        help="held-out days of the window (default: production's RetrainSpec)")
    parser.add_argument("--n-estimators", type=int, default=None,
                        help="trees per model (default: TrainParams')")
    parser.add_argument("--settings", type=int, default=None,
                        help="try only the first N random settings of the trigger grid "
                             "(default: all; for quick runs)")
    parser.add_argument("--no-reproduce", action="store_true",
                        help="skip the second run in a fresh process (reproducibility)")
    parser.add_argument("--note", help="a sentence about the conditions, kept in the .md")
    parser.add_argument("--sketches", action="store_true",
                        help="only the sketch experiment (whylogs' default KLL sketches against "
                             "exact ones, built twice in one process and once in a fresh one): "
                             "written into OUT/policies.json, then .md and .png re-rendered")
    parser.add_argument("--render-only", action="store_true",
                        help="only rewrite policies.md and policies.png from OUT/policies.json")


def run(args: argparse.Namespace, console: Console) -> int:
    """`ct bench policies`: tune, replay, print the table, write policies.json / .md / .png."""
    from ct_assets.bench.policies.run import bench
    from ct_assets.core.loop import RetrainSpec
    from ct_assets.sources.nycflights13 import AVAILABILITY

    out = Path(args.out)
    if args.render_only or args.sketches:
        source = out / "policies.json"
        if not source.exists():
            console.print(f"[red]error:[/red] {source} does not exist")
            return 2
        doc = json.loads(source.read_text())
        if args.sketches:
            from ct_assets.bench.policies import repro
            spec = RetrainSpec.for_source(AVAILABILITY)
            doc.setdefault("reproducibility", None)
            doc["reproducibility"] = {**(doc["reproducibility"] or {}),
                                      "sketches": repro.sketch_experiment(
                                          parse_day(doc["periods"]["tune"][0]), spec)}
        return _publish(doc, args, out, console)
    try:
        start, split, end = parse_day(args.start), parse_day(args.split), parse_day(args.end)
        if not start < split < end:
            raise ValueError(f"expected --start < --split < --end, got {start}, {split}, {end}")
        overrides = {k: v for k, v in (("window_days", args.window),
                                       ("holdout_days", args.holdout)) if v is not None}
        spec = RetrainSpec.for_source(AVAILABILITY, **overrides)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    with reporting.progress(console) as bar:
        task = bar.add_task("starting", total=1)

        def progress(text: str, done: int, total: int) -> None:
            bar.update(task, description=text, completed=done, total=total)

        doc = bench(start, split, end, spec=spec, n_estimators=args.n_estimators,
                    settings=args.settings, reproduce=not args.no_reproduce,
                    progress=progress)
    return _publish(doc, args, out, console)


def _publish(doc: dict, args: argparse.Namespace, out: Path, console: Console) -> int:
    """Add the `--note`, print the table and write policies.json / .md / .png."""
    from ct_assets.bench.policies.report import print_result, write_outputs

    if args.note:
        doc["meta"]["note"] = args.note
    print_result(doc, console)
    console.print(reporting.written(write_outputs(doc, out)))
    return 0
