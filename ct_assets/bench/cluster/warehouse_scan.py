"""`ct bench pipeline --warehouses --scan`: how each warehouse backend's reads and writes grow
with volume, beyond the month at 1x that the backfill measures.

A training window (28 days) of flights at 1x, 10x and 30x (`pipeline.scale_flights`, the
jittered copies of the pipeline bench) is written one day per transaction
(`warehouse.replace_partitions`, as the assets write), then read back the two ways the assets
read: the whole window into pandas (what `candidate_model` does) and an aggregate computed by
DuckDB (what the feature SQL does). Each backend in a fresh database, one process.
"""

import datetime as dt
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from ct_assets.bench import reporting
from ct_assets.bench.cluster import report
from ct_assets.bench.cluster.warehouses import BACKENDS, LABELS, target_for, temporary_postgres
from ct_assets.bench.pipeline import data
from ct_assets.cluster.config import environment

FIRST = dt.date(2013, 2, 1)
DAYS = 28
SCALES = (1, 10, 30)
AGGREGATE = ("SELECT carrier, origin, count(*), avg(distance), avg(air_time) "
             "FROM scan_flights WHERE ds >= ? AND ds < ? GROUP BY ALL")


def measure(target: str, scale: int) -> dict:
    from ct_assets.core import warehouse
    from ct_assets.sources import nycflights13 as source

    days = [FIRST + dt.timedelta(days=i) for i in range(DAYS)]
    rng = np.random.default_rng(scale)
    frames = [data.scale_flights(source.day_frame("flights", d), scale, rng).assign(ds=d)
              for d in days]
    end = days[-1] + dt.timedelta(days=1)
    began = time.perf_counter()
    for day, frame in zip(days, frames, strict=True):
        with warehouse.connect(target) as conn, warehouse.transaction(conn):
            warehouse.replace_partitions(conn, "scan_flights", frame, day,
                                         day + dt.timedelta(days=1))
    write_s = time.perf_counter() - began
    with warehouse.connect(target, read_only=True) as conn:
        began = time.perf_counter()
        window = conn.execute("SELECT * FROM scan_flights WHERE ds >= ? AND ds < ?",
                              [days[0], end]).df()
        read_s = time.perf_counter() - began
        began = time.perf_counter()
        groups = conn.execute(AGGREGATE, [days[0], end]).fetchall()
        aggregate_s = time.perf_counter() - began
    return {"scale": scale, "rows": len(window), "groups": len(groups),
            "write_s": round(write_s, 3), "read_s": round(read_s, 3),
            "aggregate_s": round(aggregate_s, 3)}


def run(args, console: Console) -> int:
    started = dt.datetime.now().replace(microsecond=0).isoformat(sep=" ")
    results: dict[str, list[dict]] = {}
    with temporary_postgres() as pg, tempfile.TemporaryDirectory(prefix="ct-bench-scan-") as tmp:
        for kind in BACKENDS:
            results[kind] = []
            for scale in SCALES:
                folder = Path(tmp) / f"{kind}-{scale}"
                folder.mkdir()
                with console.status(f"{kind} at {scale}x"), \
                        environment({"PGPASSFILE": pg["PGPASSFILE"]}):
                    results[kind].append(measure(target_for(kind, pg, folder), scale))
    doc = {"measured_at": started, "machine": reporting.machine_info(), "first": str(FIRST),
           "days": DAYS, "note": args.note or "", "backends": results}
    report.publish(console, doc, title=f"warehouse backends at volume: {DAYS} days of "
                                       f"flights from {FIRST}",
                   columns=HEADER, rows=rows(doc), markdown_text=markdown(doc),
                   out=Path(args.out), stem="warehouse_scan")
    return 0


HEADER = ["backend", "volume", "rows", "write s (a day per transaction)", "read window s",
          "aggregate s", "read vs file"]


def rows(doc: dict) -> list[list[str]]:
    base = {p["scale"]: p for p in doc["backends"]["duckdb"]}
    return [[LABELS[kind], f"{p['scale']}x", f"{p['rows']:,}", f"{p['write_s']:.2f}",
             f"{p['read_s']:.2f}", f"{p['aggregate_s']:.3f}",
             f"{p['read_s'] / base[p['scale']]['read_s']:.1f}x"]
            for kind, points in doc["backends"].items() for p in points]


def markdown(doc: dict) -> str:
    lines = [*report.header(doc, "Warehouse backends at volume: writes and reads of a training "
                                 "window", "--warehouses --scan", "warehouse_scan.py",
                            "warehouse_scan.json"),
             f"{doc['days']} days of flights from {doc['first']}, at 1x, 10x and 30x (jittered "
             "copies, as `ct bench pipeline` scales), written one day per transaction with "
             "`warehouse.replace_partitions`, then the whole window read into pandas and an "
             "aggregate by carrier and origin computed by DuckDB. A fresh database per backend "
             "and volume; Postgres 15 on the same machine.", "",
             "| " + " | ".join(HEADER) + " |", "|---|" + "---:|" * (len(HEADER) - 1)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows(doc)]
    if doc.get("note"):
        lines += ["", doc["note"]]
    return "\n".join(lines) + "\n"
