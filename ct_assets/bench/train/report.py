"""What `ct bench train` prints and writes: the timing table and the orchestration overhead, on
the console and in `train.json` / `train.md`."""

import argparse
import datetime as dt
from pathlib import Path

from rich.console import Console

from ct_assets.bench import reporting
from ct_assets.bench.train.run import Timing

HEADER = ["what", "wall s", "vs core calls", "peak RSS MB", "detail"]
VERSIONS = ["dagster", "mlflow", "lightgbm", "pandas", "duckdb"]


def document(args: argparse.Namespace, day: dt.date, timings: list[Timing],
             command: str) -> dict:
    """The figures of a run: each timing against the core calls alone (the third), and the
    overhead of the Dagster run over the same work without it."""
    base = timings[2].seconds
    return {
        "meta": {"command": command, "day": day.isoformat(), "window": args.window,
                 "holdout": args.holdout, "n_estimators": args.n_estimators,
                 "history_days": args.history_days, "month_days": args.month_days,
                 "machine": reporting.machine_info(),
                 "versions": reporting.package_versions(VERSIONS),
                 "finished": reporting.finished_at()},
        "timings": [{"name": t.name, "seconds": t.seconds, "peak_rss_mb": t.peak_rss_mb,
                     "detail": t.detail, "vs_core_calls": t.seconds / base if i < 3 else None}
                    for i, t in enumerate(timings)],
        "overhead_s": timings[0].seconds - timings[1].seconds,
        "overhead_ratio": timings[0].seconds / timings[1].seconds,
    }


def table_rows(doc: dict) -> list[list[str]]:
    return [[t["name"], f"{t['seconds']:.2f}",
             "–" if t["vs_core_calls"] is None else f"{t['vs_core_calls']:.2f}x",
             f"{t['peak_rss_mb']:,.0f}", t["detail"]] for t in doc["timings"]]


def title(doc: dict) -> str:
    m = doc["meta"]
    return (f"ct bench train: partition {m['day']}, window {m['window']} days "
            f"({m['holdout']} held out), {m['n_estimators']} trees")


def overhead_line(doc: dict) -> str:
    return (f"orchestration overhead (Dagster run minus the same work without it): "
            f"{doc['overhead_s']:.2f} s ({doc['overhead_ratio']:.2f}x)")


def print_result(doc: dict, console: Console) -> None:
    console.print(reporting.console_table(title(doc), HEADER, table_rows(doc),
                                          left=("what", "detail")))
    console.print(overhead_line(doc))


def render_markdown(doc: dict) -> str:
    return reporting.table_report(
        title(doc), doc["meta"],
        "One partition's `candidate_model` + `model_evaluation` through Dagster (in-process, "
        "after a warm-up partition), the same `core/` calls without Dagster with and without "
        "MLflow, then a month of daily retrains through the same calls in one process.",
        HEADER, table_rows(doc), overhead_line(doc), "train.json")


def write_outputs(doc: dict, out: Path) -> dict[str, Path]:
    return reporting.write_report(out, "train", doc, render_markdown(doc))
