"""`ct bench pipeline --warehouses`: the month backfill on each warehouse backend.

The same backfill as `ct bench pipeline` (the plan, the landing, the warm-up and the measured
multiprocess runs come from `ct_assets.bench.pipeline`), once per backend, on a temporary
Postgres started like the cluster's: the embedded DuckDB file, DuckLake (catalog in Postgres,
Parquet in a folder), and Postgres attached through DuckDB's postgres extension. The project's
dagster.yaml applies in all three (pool `warehouse`, limit 1), so the backfill compares what each
store costs, and the row counts are cross-checked between backends. Beside it, writers in
separate processes replace days of the same table at the same moment: different days (what
lifting the pool allows) and the same day (a real conflict).
"""

import contextlib
import datetime as dt
import multiprocessing as mp
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ct_assets.bench import reporting
from ct_assets.bench.cluster import report
from ct_assets.bench.pipeline import measure
from ct_assets.cluster import checks, postgres
from ct_assets.cluster.config import Cluster, environment
from ct_assets.core import warehouse_backends as backends

BACKENDS = ("duckdb", "ducklake", "postgres")
LABELS = {"duckdb": "DuckDB file (embedded default)",
          "ducklake": "DuckLake: catalog in Postgres, Parquet files",
          "postgres": "Postgres through DuckDB's postgres extension"}
WRITER_DAYS = 4
WRITER_FIRST = dt.date(2013, 3, 1)
NOT_MEASURED = (
    "One Parquet file per table and day (hive layout, each written to a temporary name and "
    "renamed) was not run on the backfill: the assets write several tables in one transaction "
    "(`validated_flights`, `quarantined_flights` and `validation_status` together, which is "
    "what keeps landed = validated + quarantined) and issue DELETE/INSERT on tables such as "
    "`landed_files`; a file per day makes each file atomic but not the set, so it would need "
    "a commit protocol of its own - which is what DuckLake is.")


@contextlib.contextmanager
def temporary_postgres():
    """A Postgres of our own for the bench, started as `make cluster` starts its own."""
    with tempfile.TemporaryDirectory(prefix="ct-bench-pg-") as name:
        Path(name).chmod(0o755)            # the postgres user reaches its data folder
        cluster = Cluster.load(Path(name) / "cluster")
        env = cluster.env({})
        postgres.start_postgres(cluster)
        try:
            yield env
        finally:
            postgres.stop_postgres(cluster)


def fresh_database(env: dict[str, str], name: str) -> None:
    with checks.postgres_connection(env, "postgres") as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cur.execute(f'CREATE DATABASE "{name}"')


def target_for(kind: str, env: dict[str, str], folder: Path) -> str:
    """The warehouse target of a backend, in a new database (or folder)."""
    if kind == "duckdb":
        return str(folder / "warehouse.duckdb")
    database = f"ct_bench_{kind}"
    server = f"{env['CT_PG_USER']}@{env['CT_PG_HOST']}:{env['CT_PG_PORT']}/{database}"
    if kind == "ducklake":
        (folder / "lake").mkdir(parents=True, exist_ok=True)
        target = f"ducklake+postgresql://{server}?data_path={folder / 'lake'}/"
    else:
        target = f"postgresql://{server}"
    backends.forget(backends.parse_target(target))     # no attachment to a dropped database
    fresh_database(env, database)
    return target


# -- writers at the same moment ---------------------------------------------------------------


def _write_day(target: str, day: dt.date, barrier, results) -> None:
    from ct_assets.core import warehouse
    from ct_assets.sources import nycflights13 as source

    frame = source.day_frame("flights", day).assign(ds=day)
    barrier.wait()
    began = time.perf_counter()
    try:
        with warehouse.connect(target) as conn, warehouse.transaction(conn):
            warehouse.replace_partitions(conn, "bench_writers", frame, day,
                                         day + dt.timedelta(days=1))
        results.put((str(day), "committed", time.perf_counter() - began, ""))
    except Exception as exc:  # a lost write conflict is a result here, not a crash
        text = str(exc)
        reason = text[text.index("ERROR:"):] if "ERROR:" in text else text
        results.put((str(day), "failed", time.perf_counter() - began,
                     " ".join(reason.split())[:200]))


def concurrent_writers(target: str, days: list[dt.date]) -> dict:
    """Writers in separate processes replace `days` (one each) at the same moment."""
    from ct_assets.core import warehouse
    from ct_assets.sources import nycflights13 as source

    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(len(days)), ctx.Queue()
    procs = [ctx.Process(target=_write_day, args=(target, d, barrier, results)) for d in days]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=300) for _ in procs]
    for proc in procs:
        proc.join()
    with warehouse.connect(target, read_only=True) as conn:
        rows = conn.execute("SELECT count(*) FROM bench_writers WHERE ds >= ? AND ds <= ?",
                            [min(days), max(days)]).fetchall()[0][0]
    expected = sum(len(source.day_frame("flights", d)) for d in set(days))
    return {"writers": len(days), "days": sorted({str(d) for d in days}),
            "committed": sum(o[1] == "committed" for o in outcomes),
            "failed": sum(o[1] == "failed" for o in outcomes),
            "slowest_s": round(max(o[2] for o in outcomes), 3),
            "errors": sorted({o[3] for o in outcomes if o[3]}),
            "rows": int(rows), "rows_expected": int(expected)}


def writer_cases(target: str) -> dict:
    # The table exists before the writers race (creating it is a conflict of its own).
    concurrent_writers(target, [WRITER_FIRST - dt.timedelta(days=1)])
    days = [WRITER_FIRST + dt.timedelta(days=i) for i in range(WRITER_DAYS)]
    return {"different_days": concurrent_writers(target, days),
            "same_day": concurrent_writers(target, [days[0], days[0]])}


# -- the command ------------------------------------------------------------------------------


def run(args, console: Console) -> int:
    plan, started = report.plan(args, console)
    if plan is None:
        return 2
    results = {}
    with (temporary_postgres() as pg, tempfile.TemporaryDirectory(prefix="ct-bench-wh-") as tmp,
          Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=console, transient=True) as bar):
        for kind in BACKENDS:
            folder = Path(tmp) / kind
            folder.mkdir()
            values = {"PGPASSFILE": pg["PGPASSFILE"]}
            target = target_for(kind, pg, folder)
            if kind != "duckdb":
                values["CT_WAREHOUSE"] = target
            task = bar.add_task(f"{kind}: writers at the same moment")
            with environment(values):
                writers = writer_cases(target)
                bar.remove_task(task)
                try:
                    summary = measure.bench_scale(1, {**plan, "label": kind}, bar)
                except RuntimeError as exc:
                    console.print(f"[red]{kind} failed:[/red] {exc}")
                    return 1
            results[kind] = {"label": LABELS[kind], "writers": writers, "backfill": summary}
            console.print(f"{kind}: {summary['wall_s']:,.0f} s wall, "
                          f"{summary['cpu_s']:,.0f} CPU s")
    doc = {"measured_at": started, "machine": reporting.machine_info(),
           "first": plan["days"][0], "last": plan["days"][-1],
           "measured_days": len(plan["days"]), "warmup_days": len(plan["warmup_days"]),
           "start_method": plan["start_method"], "train_config": plan["train_config"],
           "note": args.note or "", "backends": results}
    report.publish(console, doc, title=f"warehouse backends: the month backfill "
                                       f"{doc['first']} .. {doc['last']}, and writers at the "
                                       "same moment", columns=HEADER, rows=rows(doc),
                   markdown_text=markdown(doc), out=Path(args.out), stem="warehouse_backends",
                   left={0, 9, 10})
    return 0 if all(not r["backfill"]["failed_runs"] for r in results.values()) else 1


def rows(doc: dict) -> list[list[str]]:
    """One row per backend: backfill cost and the writers' outcome."""
    out = []
    base = doc["backends"]["duckdb"]["backfill"]
    for r in doc["backends"].values():
        b, w = r["backfill"], r["writers"]
        diff, same = w["different_days"], w["same_day"]
        out.append([
            r["label"], f"{b['wall_s']:,.0f}", f"{b['wall_s'] / base['wall_s']:.2f}x",
            f"{b['cpu_s']:,.0f}", f"{b['cpu_s'] / base['cpu_s']:.2f}x",
            f"{b['split_s']['core']:,.0f}", f"{b['runs']} / {b['steps']}",
            str(len(b["failed_runs"])),
            "yes" if b["rows"] == base["rows"] else f"NO: {b['rows']}",
            f"{diff['committed']}/{diff['writers']} in {diff['slowest_s']:.1f} s",
            f"{same['committed']} committed, {same['failed']} refused; "
            f"rows {'right' if same['rows'] == same['rows_expected'] else 'WRONG'}",
        ])
    return out


HEADER = ["backend", "backfill wall s", "vs file", "CPU s", "vs file", "core s",
          "runs / steps", "failed runs", "same rows as file",
          f"{WRITER_DAYS} writers, different days", "2 writers, same day"]


def markdown(doc: dict) -> str:
    lines = [
        *report.header(doc, "Warehouse backends: the month backfill and concurrent writers",
                       "--warehouses", "warehouses.py", "warehouse_backends.json"),
        f"The backfill: every asset over {doc['first']} .. {doc['last']} "
        f"({doc['measured_days']} days, after a {doc['warmup_days']}-day warm-up) at 1x, as "
        f"`ct bench pipeline` runs it (multiprocess executor, start method "
        f"`{doc['start_method']}`, the project's dagster.yaml: pool `warehouse` limit 1 for "
        "all three, so this compares the stores, not concurrency). Postgres 15 runs on the "
        "same machine.", "",
        "| " + " | ".join(HEADER) + " |", "|---|" + "---:|" * 8 + "---|---|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows(doc)]
    lines += ["", "Writers at the same moment: separate processes, each replaces one day of "
              "the same table (`warehouse.replace_partitions` in a transaction) after a "
              "barrier; *slowest* is the last writer's time from the barrier to its commit.", ""]
    for kind, r in doc["backends"].items():
        for case, w in r["writers"].items():
            if w["errors"]:
                lines.append(f"- {kind}, {case.replace('_', ' ')}: " + "; ".join(w["errors"]))
    lines += ["", "## Not measured", "", NOT_MEASURED, ""]
    if doc.get("note"):
        lines += [doc["note"], ""]
    return "\n".join(lines)
