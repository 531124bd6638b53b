"""Scale-out benchmarks: the warehouse backends (`ct bench pipeline --warehouses`) and the month
backfill on the cluster against the embedded default (`ct bench pipeline --cluster`). Both
reuse `ct_assets.bench.pipeline` for the plan, the landing and the measured backfill."""

import argparse

from rich.console import Console


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags added to `ct bench pipeline`."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--cluster", action="store_true",
                       help="the backfill on a local cluster (Postgres, Celery workers, MLflow "
                            "server, DuckLake) against the embedded default; writes "
                            "cluster.json/.md")
    which.add_argument("--warehouses", action="store_true",
                       help="the backfill on each warehouse backend (DuckDB file, DuckLake, "
                            "Postgres); writes warehouse_backends.json/.md")
    parser.add_argument("--scan", action="store_true",
                        help="with --warehouses: only writes and reads of a 28-day window at "
                             "1x, 10x, 30x on each backend; writes warehouse_scan.json/.md")
    parser.add_argument("--workers", type=int, default=2, help="Celery workers (--cluster)")


def run(args: argparse.Namespace, console: Console) -> int:
    """The scale-out benchmark the flags ask for (the plain pipeline bench otherwise)."""
    if args.warehouses and args.scan:
        from ct_assets.bench.cluster import warehouse_scan

        return warehouse_scan.run(args, console)
    if args.warehouses:
        from ct_assets.bench.cluster import warehouses

        return warehouses.run(args, console)
    from ct_assets.bench.cluster import backfill

    return backfill.run(args, console)
