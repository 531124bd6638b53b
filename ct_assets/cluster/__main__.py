"""`python -m ct_assets.cluster start|stop|check` (what `make cluster` / `make cluster-stop` run).

    start [--workers N]   start (or keep) every service, print where each listens
    stop                  stop every process the cluster started, and its Postgres
    check                 one line per component: reachable or not, and why
"""

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ct_assets.cluster import checks, local
from ct_assets.cluster.config import Cluster
from ct_assets.core.errors import ServiceError

console = Console(width=None if sys.stdout.isatty() else 140)


def cluster_dir() -> Path:
    return Path(os.environ.get("CT_CLUSTER_DIR", "data/cluster"))


def print_checks(found: list[checks.Check]) -> bool:
    table = Table(title="cluster components")
    for col in ("component", "address", "status", "detail"):
        table.add_column(col)
    for check in found:
        table.add_row(check.component, check.address,
                      "[green]ok[/green]" if check.ok else "[red]FAILED[/red]", check.detail)
    console.print(table)
    return all(c.ok for c in found)


def cmd_start(args) -> int:
    cluster = Cluster.load(cluster_dir(), workers=args.workers)
    with console.status("starting the cluster") as status:
        env = local.start(cluster, progress=lambda what: status.update(f"starting {what}"))
    ok = print_checks(checks.all_checks(env))
    console.print(f"Dagster UI: http://127.0.0.1:{cluster.ports['webserver']}   MLflow: "
                  f"{env['MLFLOW_TRACKING_URI']}   logs: {cluster.path('logs')}")
    console.print(f"To use it from a shell: source {cluster.path('env')}")
    return 0 if ok else 1


def cmd_stop(args) -> int:
    stopped = local.stop(Cluster.load(cluster_dir()))
    console.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def cmd_check(args) -> int:
    cluster = Cluster.load(cluster_dir())
    return 0 if print_checks(checks.all_checks(cluster.env())) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ct_assets.cluster")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start every service of the local cluster")
    start.add_argument("--workers", type=int, default=2)
    start.set_defaults(func=cmd_start)
    sub.add_parser("stop", help="stop the local cluster").set_defaults(func=cmd_stop)
    sub.add_parser("check", help="is each component reachable?").set_defaults(func=cmd_check)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ServiceError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
