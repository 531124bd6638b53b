"""What `ct bench features` prints and writes: the table of the two implementations and the
cross-check, on the console and in `features.json` / `features.md`."""

import argparse
import datetime as dt
from dataclasses import asdict
from pathlib import Path

from rich.console import Console

from ct_assets.bench import reporting
from ct_assets.bench.features import Measure

HEADER = ["implementation", "rows", "wall s", "rows/s", "peak RSS MB", "RSS over data MB",
          "time ratio", "memory ratio"]
LABELS = {"duckdb": "core.features (DuckDB ASOF)", "pandas": "pandas merge_asof"}
VERSIONS = ["duckdb", "pandas", "pyarrow", "numpy"]


def document(args: argparse.Namespace, start: dt.date, end: dt.date, results: list[Measure],
             worst: float, command: str) -> dict:
    """The figures of a run: each implementation against ours (the first), and the largest
    difference between the two over the cross-checked days (inf: they disagree on nulls)."""
    ours = results[0]
    return {
        "meta": {"command": command, "start": start.isoformat(), "end": end.isoformat(),
                 "repeat": args.repeat, "machine": reporting.machine_info(),
                 "versions": reporting.package_versions(VERSIONS),
                 "finished": reporting.finished_at()},
        "results": [asdict(m) | {
            "label": LABELS.get(m.name, m.name), "rows_per_s": m.rows_per_s,
            "rss_over_data_mb": m.peak_rss_mb - m.baseline_rss_mb,
            "time_ratio": m.seconds / ours.seconds,
            "memory_ratio": m.peak_rss_mb / ours.peak_rss_mb} for m in results],
        "cross_check": {"days": args.check_days, "max_abs_difference": worst,
                        "identical": worst < 1e-9},
    }


def table_rows(doc: dict) -> list[list[str]]:
    return [[r["label"], f"{r['rows']:,}", f"{r['seconds']:.3f}", f"{r['rows_per_s']:,.0f}",
             f"{r['peak_rss_mb']:,.0f}", f"{r['rss_over_data_mb']:,.0f}",
             f"{r['time_ratio']:.2f}x", f"{r['memory_ratio']:.2f}x"] for r in doc["results"]]


def title(doc: dict) -> str:
    m = doc["meta"]
    return f"ct bench features: {m['start']} .. {m['end']} (exclusive), best of {m['repeat']}"


def cross_check_line(doc: dict) -> str:
    check = doc["cross_check"]
    worst = check["max_abs_difference"]
    agree = "identical" if check["identical"] else f"max abs difference {worst:g}"
    return f"cross-check on the first {check['days']} days: {agree}"


def audit_line(doc: dict) -> str:
    audit = doc.get("point_in_time")
    if not audit:
        return ""
    label, declared = audit["label_time"], audit["declared"]
    return (f"point in time: joined on the weather's label time, "
            f"{label['weather_not_yet_known']:,} of {label['with_weather']:,} flights with "
            f"weather take a report not yet known at their cutoff "
            f"({label['weather_not_yet_known'] / max(label['with_weather'], 1):.1%}); on the "
            f"declared availability (HH:51), {declared['weather_not_yet_known']:,} of "
            f"{declared['with_weather']:,}")


def print_result(doc: dict, console: Console) -> None:
    console.print(reporting.console_table(title(doc), HEADER, table_rows(doc),
                                          left=("implementation",)))
    console.print(cross_check_line(doc))
    if audit_line(doc):
        console.print(audit_line(doc))


def render_markdown(doc: dict) -> str:
    return reporting.table_report(
        title(doc), doc["meta"],
        "The features of every flight in the range through `core.features` (DuckDB ASOF joins) "
        "and through the same joins in pandas `merge_asof`, each in a fresh process (best wall "
        "time of the repeats; peak RSS includes the loaded source data, the column after it "
        "does not), then cross-checked value by value.",
        HEADER, table_rows(doc),
        cross_check_line(doc) + (f". {audit_line(doc)[:1].upper()}{audit_line(doc)[1:]}"
                                 if audit_line(doc) else ""), "features.json")


def write_outputs(doc: dict, out: Path) -> dict[str, Path]:
    return reporting.write_report(out, "features", doc, render_markdown(doc))
