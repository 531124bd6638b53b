"""The driver: one phase of the backfill (every run of the plan, one after another) in a
subprocess with the bench's environment, and the raw figures it writes for the parent: runs,
steps from the event log, traces, row counts."""

import datetime as dt
import functools
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

from ct_assets.bench.pipeline.plan import (
    DAY,
    PROJECT,
    RANGE,
    TRAINING_ASSET,
    RunSpec,
    plan_groups,
    plan_runs,
)
from ct_assets.bench.pipeline.tracing import TRACE_ENV, install_tracing

# With `--start-method forkserver`, step processes fork from a server that imported these once
# (mlflow alone costs a couple of seconds per process that touches the registry).
FORKSERVER_PRELOAD = ["dagster", "ct_assets.definitions", "mlflow"]
ROW_TABLES = ("raw_flights", "validated_flights", "quarantined_flights", "flight_features",
              "flight_labels", "daily_predictions")
_IS_DRIVER = False            # set in the driver process: it runs no step, traces nothing


def bench_job():
    """The reconstructable target of the bench's runs: every asset of `ASSETS`, the project's
    resources, and an executor chosen per run (multiprocess or in-process). In a step process
    with `CT_BENCH_TRACE_DIR` set, core calls are traced first."""
    return _bench_job()


@functools.cache
def _bench_job():
    # built once per process, as a code location's module-level `Definitions` is (Dagster
    # resolves the target again for every step)
    import dagster as dg

    if os.environ.get(TRACE_ENV) and not _IS_DRIVER:
        install_tracing()
    from ct_assets.definitions import ASSETS, defs

    job = dg.define_asset_job("ct_bench_backfill", selection=dg.AssetSelection.assets(*ASSETS),
                              executor_def=dg.multi_or_in_process_executor)
    return dg.Definitions(assets=ASSETS, resources=defs.resources,
                          jobs=[job]).resolve_job_def("ct_bench_backfill")


def _executor_config(spec: dict) -> dict:
    if spec["executor"] in ("in_process", PROJECT):
        return {"in_process": {}}
    start = ({"forkserver": {"preload_modules": FORKSERVER_PRELOAD}}
             if spec["start_method"] == "forkserver" else {"spawn": {}})
    return {"multiprocess": {"max_concurrent": spec["max_concurrent"], "start_method": start}}


def _run_config(spec: dict, assets: list[str]) -> dict:
    config = {"execution": {"config": _executor_config(spec)}}
    fit = {k: v for k, v in (spec.get("train_config") or {}).items()
           if k not in ("window_days", "holdout_days")}      # the window is CT_WINDOW_DAYS ..
    if TRAINING_ASSET in assets and fit:
        config["ops"] = {TRAINING_ASSET: {"config": fit}}
    return config


def run_tags(run: RunSpec) -> dict[str, str]:
    if run.mode == DAY:
        return {"dagster/partition": run.first}
    if run.mode == RANGE:
        return {"dagster/asset_partition_range_start": run.first,
                "dagster/asset_partition_range_end": run.last}
    return {}


@functools.cache
def _selected_job(assets: frozenset[str]):
    import dagster as dg

    return dg.reconstructable(bench_job).get_subset(
        asset_selection=frozenset(dg.AssetKey(a) for a in assets))


def _forked_run(context, instance, spec: dict, run: RunSpec) -> tuple[str | None, bool]:
    """One run as the project's instance makes it (`--executor project`): created here, as the
    daemon creates a run from the job it holds, then executed in a process forked from the
    launcher's forkserver by the launcher's own run body; (run id, success)."""
    from dagster._serdes import serialize_value

    from ct_assets.launcher import execute_run

    recon = _selected_job(frozenset(run.assets))
    created = instance.create_run_for_job(
        job_def=recon.get_definition(), run_config=_run_config(spec, run.assets),
        tags=run_tags(run), job_code_origin=recon.get_python_origin(),
        asset_selection=recon.asset_selection)
    process = context.Process(target=execute_run,
                              args=(created.run_id, serialize_value(instance.get_ref())))
    process.start()
    process.join()
    finished = instance.get_run_by_id(created.run_id)
    return created.run_id, finished is not None and finished.is_success


def _noop() -> None:
    pass


def _started_forkserver():
    """The launcher's forkserver context, its server running with its modules preloaded (a
    first process forked and joined)."""
    from ct_assets.launcher import forkserver_context

    context = forkserver_context()
    first = context.Process(target=_noop)
    first.start()
    first.join()
    return context


def _startup_cpu() -> dict[str, float]:
    """CPU seconds this process and the forkserver used before the first run (imports, the
    preload): paid once per daemon, not per backfill; the analysis sets them apart."""
    import multiprocessing.forkserver

    import psutil

    out = {}
    pids = [os.getpid(), getattr(multiprocessing.forkserver._forkserver, "_forkserver_pid", None)]
    for pid in filter(None, pids):
        times = psutil.Process(pid).cpu_times()
        out[str(pid)] = times.user + times.system
    return out


def drive(spec_path: str | None = None) -> None:
    """Entry point of the driver subprocess: execute one phase and write its raw figures.

    `spec_path` (or argv[1]) is a JSON file with: phase, days, trained_from, with_model,
    executor, start_method, max_concurrent, train_config, progress (a file the parent tails)
    and result (where the figures go).
    """
    import warnings

    warnings.filterwarnings("ignore")
    global _IS_DRIVER
    _IS_DRIVER = True
    spec = json.loads(Path(spec_path or sys.argv[1]).read_text())
    import dagster as dg

    from ct_assets.definitions import ASSETS

    groups = plan_groups(ASSETS)
    days = [dt.date.fromisoformat(d) for d in spec["days"]]
    runs = plan_runs(groups, days, dt.date.fromisoformat(spec["trained_from"]),
                     spec["with_model"])
    progress = Path(spec["progress"])
    progress.write_text(f"total\t{len(runs)}\n")
    records = []
    with dg.DagsterInstance.get() as instance:
        job = dg.reconstructable(bench_job)
        # the project's run launcher's forkserver: the same preload and warm-up, started (as
        # a daemon's is, once for all its runs) before the backfill
        fork = _started_forkserver() if spec["executor"] == PROJECT else None
        startup_cpu = _startup_cpu()
        began = time.time()
        for i, run in enumerate(runs):
            start = time.time()
            if fork is not None:
                run_id, success = _forked_run(fork, instance, spec, run)
            else:
                result = dg.execute_job(job, instance=instance, tags=run_tags(run),
                                        run_config=_run_config(spec, run.assets),
                                        asset_selection=[dg.AssetKey(a) for a in run.assets],
                                        raise_on_error=False)
                run_id, success = result.run_id, result.success
            records.append({**asdict(run), "run_id": run_id, "success": success,
                            "start": start, "end": time.time()})
            status = "ok" if success else "FAILED"
            with progress.open("a") as handle:
                handle.write(f"done\t{i + 1}\t{run.label}\t{status}\n")
        ended = time.time()
        steps = _step_records(instance, records)
    out = {"phase": spec["phase"], "start": began, "end": ended, "runs": records,
           "steps": steps, "groups": [asdict(g) for g in groups], "startup_cpu": startup_cpu}
    if spec["phase"] == "measured":
        out["traces"] = _read_traces(Path(os.environ[TRACE_ENV]))
        out["rows"] = row_counts(days)
    Path(spec["result"]).write_text(json.dumps(out))


def _step_records(instance, runs: list[dict]) -> list[dict]:
    """Per step: its asset, run, pid, worker launch, start and end (from the event log)."""
    import dagster as dg

    kinds = {dg.DagsterEventType.STEP_WORKER_STARTING: "launched",
             dg.DagsterEventType.STEP_START: "start",
             dg.DagsterEventType.STEP_SUCCESS: "end", dg.DagsterEventType.STEP_FAILURE: "end"}
    steps = []
    for run in runs:
        if run["run_id"] is None:                  # its process died before it started
            continue
        by_key: dict[str, dict] = {}
        for entry in instance.all_logs(run["run_id"], of_type=set(kinds)):
            event = entry.dagster_event
            step = by_key.setdefault(entry.step_key, {"asset": entry.step_key,
                                                      "run_id": run["run_id"],
                                                      "mode": run["mode"]})
            step[kinds[event.event_type]] = entry.timestamp
            if event.event_type == dg.DagsterEventType.STEP_START:
                step["pid"] = event.pid
            if event.event_type == dg.DagsterEventType.STEP_FAILURE:
                step["failed"] = True
        steps.extend(s for s in by_key.values() if "start" in s and "end" in s)
    return steps


def _read_traces(folder: Path) -> list[list]:
    """[pid, category, name, start, end, cpu seconds] of every outermost traced call."""
    out = []
    for path in sorted(folder.glob("*.tsv")):
        pid = int(path.stem)
        for line in path.read_text().splitlines():
            category, name, start, end, cpu = line.split("\t")
            out.append([pid, category, name, float(start), float(end), float(cpu)])
    return out


def row_counts(days: list[dt.date]) -> dict[str, int]:
    from ct_assets.core import warehouse
    from ct_assets.settings import Settings

    start, end = days[0], days[-1] + dt.timedelta(days=1)
    counts = {}
    with warehouse.connect(Settings.from_env().warehouse, read_only=True) as conn:
        for table in ROW_TABLES:
            if warehouse.table_exists(conn, table):
                sql = f"SELECT count(*) FROM {warehouse.ident(table)} WHERE ds >= ? AND ds < ?"
                counts[table] = conn.execute(sql, [start, end]).fetchall()[0][0]
        if warehouse.table_exists(conn, "gate_decisions"):
            counts["promotions"] = conn.execute(
                "SELECT count(*) FROM gate_decisions WHERE ds >= ? AND ds < ? AND promote",
                [start, end]).fetchall()[0][0]
    return counts
