"""What the loop did, read from its instance and trace files once it has stopped: the runs by
kind (what started them), their queue and execution time, the failed ones, the retrains and
the decision log, and the CPU time spent in `core/` and in the MLflow store."""

import datetime as dt
from collections import defaultdict
from pathlib import Path

import dagster as dg

from ct_assets.defs.tags import RESCORE_TAG, RETRAIN_FOR_TAG, TRIGGER_TAG

KINDS = ("ingest", "automation", "retrain", "rescore", "other")
_FAILED = {dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def run_kind(tags: dict) -> str:
    """Which part of the loop asked for a run."""
    if RETRAIN_FOR_TAG in tags:
        return "retrain"
    if RESCORE_TAG in tags:
        return "rescore"
    sensor = tags.get("dagster/sensor_name", "")
    if sensor == "landing_sensor":
        return "ingest"
    if sensor == "ct_automation_sensor" or "dagster/from_automation_condition" in tags:
        return "automation"
    return "other"


def _label(run: dg.DagsterRun) -> str:
    tags = run.tags
    assets = ",".join(sorted(k.to_user_string() for k in run.asset_selection or []))
    where = tags.get("dagster/partition") or (
        f"{tags.get('dagster/asset_partition_range_start')}.."
        f"{tags.get('dagster/asset_partition_range_end')}")
    return f"{run_kind(tags)} {assets} {where}: {run.status.value}"


def runs(instance: dg.DagsterInstance, began: float) -> dict:
    """Every run: counts and seconds by kind, the failed ones, a timeline (seconds since
    `began`, the start of the loop) for the plot."""
    records = instance.get_run_records(ascending=True)
    by_kind = {k: {"runs": 0, "queue_s": 0.0, "exec_s": 0.0} for k in KINDS}
    failed, timeline = [], []
    for record in records:
        run = record.dagster_run
        kind = run_kind(run.tags)
        slot = by_kind[kind]
        slot["runs"] += 1
        created = record.create_timestamp.timestamp()
        start = record.start_time or created
        end = record.end_time or start
        slot["queue_s"] += start - created
        slot["exec_s"] += end - start
        timeline.append([kind, round(created - began, 2), round(start - began, 2),
                         round(end - began, 2), _label(run)])
        if run.status in _FAILED:
            failed.append(_label(run))
    for slot in by_kind.values():
        slot["queue_s"], slot["exec_s"] = round(slot["queue_s"], 1), round(slot["exec_s"], 1)
    return {"runs": len(records), "by_kind": by_kind, "failed_runs": failed,
            "timeline": timeline}


def decisions(instance: dg.DagsterInstance, before: dt.date) -> dict:
    """The retrains the sensors requested and what the gate decided, as (day, sorted trigger
    kinds, promoted) for the days before `before` (the replay's range)."""
    from ct_assets.defs import state

    log = state.decision_log(instance)
    retrains = []
    for record in instance.get_run_records(ascending=True):
        tags = record.dagster_run.tags
        if RETRAIN_FOR_TAG not in tags:
            continue
        day = dt.date.fromisoformat(tags[RETRAIN_FOR_TAG])
        decision = log.serving(day)
        if decision is None or decision.effective_from != day or day >= before:
            continue
        retrains.append([day.isoformat(), sorted(tags[TRIGGER_TAG].split(",")),
                         decision.version == decision.candidate])
    return {"retrains": retrains, "decisions": len(log),
            "promotions": sum(1 for r in retrains if r[2])}


def traces(folder: Path | None) -> dict:
    """CPU seconds of the outermost traced calls, by category (`core`, `registry`), and the
    functions that took the most."""
    cpu = defaultdict(float)
    functions = defaultdict(float)
    if folder is not None:
        for path in sorted(Path(folder).glob("*.tsv")):
            for line in path.read_text().splitlines():
                category, name, _start, _end, seconds = line.split("\t")
                cpu[category] += float(seconds)
                functions[f"{category}:{name}"] += float(seconds)
    top = sorted(functions.items(), key=lambda kv: -kv[1])[:10]
    return {"core_cpu_s": round(cpu["core"], 2), "registry_cpu_s": round(cpu["registry"], 2),
            "top_functions": [[name, round(s, 2)] for name, s in top]}
