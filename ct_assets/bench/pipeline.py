"""`ct bench pipeline`: what orchestration costs for the whole loop, and how it scales.

Every asset of `ct_assets.definitions.ASSETS` is materialized over a month (or, with `--year`,
the whole year) as a backfill through Dagster: real runs on a persistent `DagsterInstance` (a
temporary `DAGSTER_HOME` with the project's `dagster.yaml`, so the `warehouse` pool applies),
the multiprocess executor, one step per process. The same work is repeated at several volumes:
each day's flights resampled with jitter to `scale` times the rows (weather stays as it is).

Where the time goes is measured, not inferred:
- each step process times every call into `ct_assets/core/` (and, apart, into
  `ct_assets/registry.py`, the MLflow store) and appends the intervals to a trace file;
- Dagster's event log gives each step's worker launch, start and end;
- a sweep over those intervals splits the wall time of the backfill into core / MLflow / the
  rest of the step (asset glue, resources, Dagster's step events) / step process start-up /
  between steps (run start and finish, pool waits);
- the parent samples the resident memory and the CPU time of every process of the tree, so
  the cost is also known as CPU time, which another load on the machine disturbs much less.

Layout of a bench: the driver (`drive`) runs in a subprocess of its own with the temporary
data dir in its environment; the parent lands the days, samples memory, shows progress and
writes `pipeline.json`, `pipeline.md` and `pipeline.png`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import importlib
import inspect
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

HELP = "the whole loop as a Dagster backfill (multiprocess): cost, and how it grows with volume"

DEFAULT_FIRST = dt.date(2013, 2, 1)
TRAINING_ASSET = "candidate_model"       # assets downstream of it need a training window
RANGE, DAY, ONCE = "range", "day", "once"
SAMPLE_INTERVAL_S = 0.2
TRACE_ENV = "CT_BENCH_TRACE_DIR"
# With `--start-method forkserver`, step processes fork from a server that imported these once
# (mlflow alone costs a couple of seconds per process that touches the registry).
FORKSERVER_PRELOAD = ["dagster", "ct_assets.definitions", "mlflow"]
PACKAGE_DIR = Path(__file__).resolve().parents[1]      # ct_assets/
# Categories of the wall-time split, highest priority first: an instant in which a core call
# runs in some step counts as core, even if another step process is starting at that moment.
CATEGORIES = ("core", "registry", "step_other", "step_startup", "between_steps")
CATEGORY_LABELS = {
    "core": "ct_assets/core/ functions",
    "registry": "MLflow store (ct_assets/registry.py)",
    "step_other": "rest of the step (asset code, resources, Dagster step events)",
    "step_startup": "step process start-up (launch, imports, job load)",
    "between_steps": "between steps (run start/finish, step process exit, pool waits)",
}
CPU_CATEGORIES = ("core", "registry", "step_rest", "driver", "other")
CPU_LABELS = {
    "core": "ct_assets/core/ functions",
    "registry": "MLflow store (ct_assets/registry.py)",
    "step_rest": "rest of the step processes (imports, Dagster, asset code)",
    "driver": "driver: run orchestration (execute_job, executor, event log)",
    "other": "rest of the tree (forkserver, multiprocessing helpers)",
}
ROW_TABLES = ("raw_flights", "validated_flights", "quarantined_flights", "flight_features",
              "flight_labels", "daily_predictions")


# --------------------------------------------------------------------------------------------
# Data: the days, landed at a volume


def scale_flights(frame: pd.DataFrame, scale: int, rng: np.random.Generator) -> pd.DataFrame:
    """`scale` copies of a day's flights: the original plus `scale - 1` jittered copies.

    Every copy still passes validation: it keeps its date, carrier, route, plane and scheduled
    hour (so `time_hour` stays true); its flight number is new and unique within (carrier,
    origin) for the day, so the natural key (carrier, flight, origin) never repeats; its
    scheduled minute moves by up to 10 minutes inside the hour (scheduled arrival moves with
    it), its delays by a few minutes (actual times follow), its air time by about 3 %, all
    clipped to the ranges of the flights TableSpec. Cancelled flights stay cancelled.
    """
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    base = frame.reset_index(drop=True)
    if scale == 1 or base.empty:
        return base.copy()
    n, extra = len(base), scale - 1
    numbers = np.empty((extra, n), dtype="int64")
    flights = base["flight"].to_numpy()
    for idx in base.groupby(["carrier", "origin"]).indices.values():
        free = np.setdiff1d(np.arange(1, 10_000), flights[idx])
        if len(free) < extra * len(idx):
            raise ValueError(f"scale {scale} needs {extra * len(idx)} new flight numbers for "
                             f"one carrier and origin, only {len(free)} are free")
        numbers[:, idx] = rng.permutation(free)[: extra * len(idx)].reshape(extra, len(idx))

    def minutes(hhmm):
        return (hhmm // 100) * 60 + hhmm % 100

    def hhmm(mins, midnight: int):
        mins = np.mod(mins, 1440)
        out = (mins // 60) * 100 + mins % 60
        return np.where(out == 0, midnight, out)

    copies = [base]
    for k in range(extra):
        c = base.copy()
        c["flight"] = numbers[k]
        minute = np.clip(base["minute"].to_numpy() + rng.integers(-10, 11, n), 0, 59)
        shift = minute - base["minute"].to_numpy()
        c["minute"] = minute
        c["sched_dep_time"] = base["hour"].to_numpy() * 100 + minute
        c["sched_arr_time"] = hhmm(minutes(base["sched_arr_time"].to_numpy()) + shift, 0)
        dep_noise = np.round(rng.normal(0, 4, n))
        arr_noise = dep_noise + np.round(rng.normal(0, 4, n))
        dep_delay = np.clip(base["dep_delay"].to_numpy() + dep_noise, -120, 1800)
        arr_delay = np.clip(base["arr_delay"].to_numpy() + arr_noise, -180, 1800)
        dep_moved = shift + (dep_delay - base["dep_delay"].to_numpy())
        arr_moved = shift + (arr_delay - base["arr_delay"].to_numpy())
        c["dep_delay"], c["arr_delay"] = dep_delay, arr_delay
        for col, moved in (("dep_time", dep_moved), ("arr_time", arr_moved)):
            actual = base[col].to_numpy()
            known = ~np.isnan(actual) & ~np.isnan(moved)
            out = np.full(n, np.nan)
            out[known] = hhmm(minutes(actual[known]) + moved[known], 2400)
            c[col] = out
        air = base["air_time"].to_numpy() * (1 + rng.normal(0, 0.03, n))
        c["air_time"] = np.clip(np.round(air), 10, 800)
        copies.append(c)
    out = pd.concat(copies, ignore_index=True)
    return out.astype(base.dtypes.to_dict())


def land(data_dir: Path, days: list[dt.date], scale: int, seed: int = 2013,
         advance=None) -> dict[str, int]:
    """Land flights (at `scale`) and weather (as delivered) for `days`, as `ct replay` does."""
    from ct_assets.core import landing
    from ct_assets.sources import nycflights13 as source

    root = data_dir / "landing"
    rows = {"flights": 0, "weather": 0}
    for day in days:
        rng = np.random.default_rng([seed, scale, day.toordinal()])
        frames = {"flights": scale_flights(source.day_frame("flights", day), scale, rng),
                  "weather": source.day_frame("weather", day)}
        for table, frame in frames.items():
            landing.write_new(landing.landed_path(root, table, day), frame)
            rows[table] += len(frame)
        if advance:
            advance()
    return rows


# --------------------------------------------------------------------------------------------
# The plan: which runs materialize every asset, in topological order


@dataclass
class Group:
    """Assets materialized together: one run per range, one run per day, or one run."""

    mode: str                 # RANGE, DAY or ONCE
    assets: list[str]
    needs_model: bool         # downstream of the training asset: only days with a window


def asset_mode(asset) -> str:
    """How a backfill runs `asset`: like Dagster's backfill daemon, from its backfill policy."""
    if asset.partitions_def is None:
        return ONCE
    policy = asset.backfill_policy
    if policy is not None and policy.max_partitions_per_run is None:
        return RANGE
    return DAY


def plan_groups(assets) -> list[Group]:
    """Topological groups of `assets` (AssetsDefinitions). Consecutive assets of the same mode
    whose dependencies allow it share a run, so the multiprocess executor may run their steps
    in parallel; a day-per-run chain (train -> evaluate -> promote -> serve) is one run a day."""
    order, deps, mode = [], {}, {}
    for asset in assets:
        for key in asset.keys:
            name = key.to_user_string()
            order.append(name)
            deps[name] = {d.to_user_string() for d in asset.asset_deps[key]}
            mode[name] = asset_mode(asset)
    known = set(order)
    deps = {name: d & known for name, d in deps.items()}
    downstream = {TRAINING_ASSET} & known
    changed = True
    while changed:
        grown = {n for n in order if deps[n] & downstream} | downstream
        changed, downstream = grown != downstream, grown
    groups, done, remaining = [], set(), list(order)
    while remaining:
        ready = [n for n in remaining if deps[n] <= done]
        if not ready:
            raise ValueError(f"dependency cycle among {remaining}")
        first = ready[0]
        group = Group(mode[first], [first], first in downstream)
        grew = True
        while grew:
            grew = False
            for name in remaining:
                if (name not in group.assets and mode[name] == group.mode
                        and (name in downstream) == group.needs_model
                        and deps[name] <= done | set(group.assets)):
                    group.assets.append(name)
                    grew = True
        done |= set(group.assets)
        remaining = [n for n in remaining if n not in done]
        groups.append(group)
    return groups


@dataclass
class RunSpec:
    group: int
    assets: list[str]
    mode: str
    first: str | None = None     # partition (DAY) or range start (RANGE), ISO day
    last: str | None = None      # range end, inclusive

    @property
    def label(self) -> str:
        where = {ONCE: "", DAY: f" {self.first}", RANGE: f" {self.first}..{self.last}"}[self.mode]
        return "+".join(self.assets) + where


def plan_runs(groups: list[Group], days: list[dt.date], trained_from: dt.date,
              with_model: bool = True) -> list[RunSpec]:
    """The runs of one phase, in order. Groups that need a model get only days >= trained_from
    (and none at all when `with_model` is false: the warm-up)."""
    runs = []
    for i, group in enumerate(groups):
        if group.needs_model and not with_model:
            continue
        these = [d for d in days if d >= trained_from] if group.needs_model else days
        if group.mode == ONCE:
            runs.append(RunSpec(i, group.assets, ONCE))
        elif not these:
            continue
        elif group.mode == RANGE:
            runs.append(RunSpec(i, group.assets, RANGE, these[0].isoformat(),
                                these[-1].isoformat()))
        else:
            runs.extend(RunSpec(i, group.assets, DAY, d.isoformat()) for d in these)
    return runs


# --------------------------------------------------------------------------------------------
# Tracing core calls inside the step processes


_TRACE = threading.local()
_TRACE_FILE: dict[int, object] = {}
_TRACE_INSTALLED = False
_IS_DRIVER = False            # set in the driver process: it runs no step, traces nothing


def _trace_write(category: str, name: str, began: float, ended: float, cpu: float) -> None:
    pid = os.getpid()
    handle = _TRACE_FILE.get(pid)
    if handle is None:
        # Kept open for the life of the step process; line-buffered, so nothing is lost at exit.
        handle = open(Path(os.environ[TRACE_ENV]) / f"{pid}.tsv", "a", buffering=1)
        _TRACE_FILE.clear()
        _TRACE_FILE[pid] = handle
    handle.write(f"{category}\t{name}\t{began:.6f}\t{ended:.6f}\t{cpu:.6f}\n")


@contextlib.contextmanager
def _outermost(category: str, name: str):
    """Time the block (wall clock, and CPU time of the process) if no other traced call is
    already running in this thread."""
    depth = getattr(_TRACE, "depth", 0)
    _TRACE.depth = depth + 1
    began, cpu = time.time(), time.process_time()
    try:
        yield
    finally:
        _TRACE.depth = depth
        if depth == 0:
            _trace_write(category, name, began, time.time(), time.process_time() - cpu)


class _TimedContext:
    """A context manager whose enter and exit are timed (the block in between is the
    caller's time, not the function's)."""

    def __init__(self, inner, category: str, name: str):
        self._inner, self._category, self._name = inner, category, name

    def __enter__(self):
        with _outermost(self._category, self._name):
            return self._inner.__enter__()

    def __exit__(self, *exc):
        with _outermost(self._category, self._name):
            return self._inner.__exit__(*exc)


def _timed(fn, category: str, name: str):
    original = getattr(fn, "__wrapped__", None)
    is_context = original is not None and inspect.isgeneratorfunction(original)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if is_context:
            return _TimedContext(fn(*args, **kwargs), category, name)
        with _outermost(category, name):
            return fn(*args, **kwargs)

    wrapper.__ct_bench_original__ = fn
    return wrapper


def install_tracing() -> int:
    """Wrap every function and method defined in `ct_assets/core/` (category core) and in
    `ct_assets/registry.py` (category registry), and rebind names other `ct_assets` modules
    imported from them. Returns how many callables are traced."""
    global _TRACE_INSTALLED
    if _TRACE_INSTALLED:
        return 0
    import pkgutil

    import ct_assets.core
    import ct_assets.definitions  # noqa: F401  (every module that may hold a direct import)

    targets = {importlib.import_module(f"ct_assets.core.{m.name}"): "core"
               for m in pkgutil.iter_modules(ct_assets.core.__path__)}
    targets[importlib.import_module("ct_assets.registry")] = "registry"
    wrapped = {}
    for module, category in targets.items():
        for attr, obj in list(vars(module).items()):
            if getattr(obj, "__module__", None) != module.__name__:
                continue
            short = module.__name__.rsplit(".", 1)[-1]
            if inspect.isfunction(obj):
                wrapped[id(obj)] = _timed(obj, category, f"{short}.{attr}")
                setattr(module, attr, wrapped[id(obj)])
            elif inspect.isclass(obj):
                for name, method in list(vars(obj).items()):
                    if inspect.isfunction(method) and not name.startswith("__"):
                        with contextlib.suppress(AttributeError, TypeError, ValueError):
                            setattr(obj, name, _timed(method, category,
                                                      f"{short}.{attr}.{name}"))
    for name, module in list(sys.modules.items()):
        if not name.startswith("ct_assets.") or module in targets or name == __name__:
            continue
        for attr, obj in list(vars(module).items()):
            if id(obj) in wrapped and getattr(wrapped[id(obj)], "__ct_bench_original__",
                                              None) is obj:
                setattr(module, attr, wrapped[id(obj)])
    _TRACE_INSTALLED = True
    return len(wrapped)


def bench_job():
    """The reconstructable target of the bench's runs: every asset of `ASSETS`, the project's
    resources, and an executor chosen per run (multiprocess or in-process). In a step process
    with `CT_BENCH_TRACE_DIR` set, core calls are traced first."""
    import dagster as dg

    if os.environ.get(TRACE_ENV) and not _IS_DRIVER:
        install_tracing()
    from ct_assets.definitions import ASSETS, defs

    job = dg.define_asset_job("ct_bench_backfill", selection=dg.AssetSelection.assets(*ASSETS),
                              executor_def=dg.multi_or_in_process_executor)
    return dg.Definitions(assets=ASSETS, resources=defs.resources,
                          jobs=[job]).resolve_job_def("ct_bench_backfill")



# --------------------------------------------------------------------------------------------
# The driver: one phase of the backfill, in a subprocess with the bench's environment


def _executor_config(spec: dict) -> dict:
    if spec["executor"] == "in_process":
        return {"in_process": {}}
    start = ({"forkserver": {"preload_modules": FORKSERVER_PRELOAD}}
             if spec["start_method"] == "forkserver" else {"spawn": {}})
    return {"multiprocess": {"max_concurrent": spec["max_concurrent"], "start_method": start}}


def _run_config(spec: dict, assets: list[str]) -> dict:
    config = {"execution": {"config": _executor_config(spec)}}
    if TRAINING_ASSET in assets and spec.get("train_config"):
        config["ops"] = {TRAINING_ASSET: {"config": spec["train_config"]}}
    return config


def _tags(run: RunSpec) -> dict[str, str]:
    if run.mode == DAY:
        return {"dagster/partition": run.first}
    if run.mode == RANGE:
        return {"dagster/asset_partition_range_start": run.first,
                "dagster/asset_partition_range_end": run.last}
    return {}


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
    began = time.time()
    with dg.DagsterInstance.get() as instance:
        job = dg.reconstructable(bench_job)
        for i, run in enumerate(runs):
            start = time.time()
            result = dg.execute_job(job, instance=instance, tags=_tags(run),
                                    run_config=_run_config(spec, run.assets),
                                    asset_selection=[dg.AssetKey(a) for a in run.assets],
                                    raise_on_error=False)
            records.append({**asdict(run), "run_id": result.run_id, "success": result.success,
                            "start": start, "end": time.time()})
            status = "ok" if result.success else "FAILED"
            with progress.open("a") as handle:
                handle.write(f"done\t{i + 1}\t{run.label}\t{status}\n")
        ended = time.time()
        steps = _step_records(instance, records)
    out = {"phase": spec["phase"], "start": began, "end": ended, "runs": records,
           "steps": steps, "groups": [asdict(g) for g in groups]}
    if spec["phase"] == "measured":
        out["traces"] = _read_traces(Path(os.environ[TRACE_ENV]))
        out["rows"] = _row_counts(days)
    Path(spec["result"]).write_text(json.dumps(out))


def _step_records(instance, runs: list[dict]) -> list[dict]:
    """Per step: its asset, run, pid, worker launch, start and end (from the event log)."""
    import dagster as dg

    kinds = {dg.DagsterEventType.STEP_WORKER_STARTING: "launched",
             dg.DagsterEventType.STEP_START: "start",
             dg.DagsterEventType.STEP_SUCCESS: "end", dg.DagsterEventType.STEP_FAILURE: "end"}
    steps = []
    for run in runs:
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


def _row_counts(days: list[dt.date]) -> dict[str, int]:
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


# --------------------------------------------------------------------------------------------
# Analysis of a driver's raw figures


def sweep(intervals: list[tuple[float, float, str]], start: float, end: float) -> dict:
    """Split [start, end) among categories: at each instant, the first category of CATEGORIES
    with an interval open; instants with none count as `between_steps`."""
    rank = {c: i for i, c in enumerate(CATEGORIES)}
    points = []
    for lo, hi, cat in intervals:
        lo, hi = max(lo, start), min(hi, end)
        if hi > lo:
            points += [(lo, 1, rank[cat]), (hi, -1, rank[cat])]
    points.sort()
    totals = dict.fromkeys(CATEGORIES, 0.0)
    active = [0] * len(CATEGORIES)
    last = start
    for t, delta, r in points:
        if t > last:
            top = next((i for i, n in enumerate(active) if n > 0), rank["between_steps"])
            totals[CATEGORIES[top]] += t - last
            last = t
        active[r] += delta
    if end > last:
        totals["between_steps"] += end - last
    return totals


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    points = sorted([(lo, 1) for lo, _ in intervals] + [(hi, -1) for _, hi in intervals],
                    key=lambda p: (p[0], p[1]))
    best = now = 0
    for _, delta in points:
        now += delta
        best = max(best, now)
    return best


def analyse(raw: dict, cpu_by_pid: dict[int, float] | None = None,
            driver_pid: int | None = None) -> dict:
    """Summary figures of a measured phase: the wall-time split, the CPU-time split (when the
    CPU time of each process is given), per-asset step times, core time per step (a trace
    belongs to the step of its pid and time), the largest traced functions."""
    steps, traces = raw["steps"], raw.get("traces", [])
    cpu_by_pid = cpu_by_pid or {}
    by_pid = defaultdict(list)
    for step in steps:
        step.update(core=0.0, registry=0.0, core_cpu=0.0, registry_cpu=0.0)
        by_pid[step.get("pid")].append(step)
    functions = defaultdict(float)
    unattributed = 0.0
    traced_cpu = defaultdict(float)
    for pid, category, name, lo, hi, cpu in traces:
        functions[(category, name)] += hi - lo
        traced_cpu[category] += cpu
        owner = next((s for s in by_pid.get(pid, []) if s["start"] - 1 <= lo <= s["end"] + 1),
                     None)
        if owner is None:
            unattributed += hi - lo
        else:
            owner[category] += hi - lo
            owner[f"{category}_cpu"] += cpu
    intervals = [(lo, hi, category) for _, category, _, lo, hi, _ in traces]
    for step in steps:
        intervals.append((step["start"], step["end"], "step_other"))
        if "launched" in step:
            intervals.append((step["launched"], step["start"], "step_startup"))
    split = sweep(intervals, raw["start"], raw["end"])
    wall = raw["end"] - raw["start"]
    stages: dict[str, dict] = {}
    counted: set[int] = set()
    for step in steps:
        stage = stages.setdefault(step["asset"], dict.fromkeys(
            ("step_s", "core_s", "registry_s", "startup_s", "cpu_s", "core_cpu_s"), 0.0))
        stage["steps"] = stage.get("steps", 0) + 1
        stage["step_s"] += step["end"] - step["start"]
        stage["core_s"] += step["core"]
        stage["registry_s"] += step["registry"]
        stage["startup_s"] += step["start"] - step.get("launched", step["start"])
        stage["core_cpu_s"] += step["core_cpu"]
        if step.get("pid") not in counted:
            counted.add(step.get("pid"))
            stage["cpu_s"] += cpu_by_pid.get(step.get("pid"), 0.0)
    tree = sum(cpu_by_pid.values())
    in_steps = sum(cpu_by_pid.get(pid, 0.0) for pid in counted)
    driver = cpu_by_pid.get(driver_pid, 0.0)
    cpu_split = {"core": traced_cpu["core"], "registry": traced_cpu["registry"],
                 "step_rest": max(in_steps - traced_cpu["core"] - traced_cpu["registry"], 0.0),
                 "driver": driver, "other": max(tree - in_steps - driver, 0.0)}
    top = sorted(functions.items(), key=lambda kv: -kv[1])[:12]
    runs = raw["runs"]
    return {
        "wall_s": wall,
        "runs": len(runs),
        "failed_runs": [RunSpec(r["group"], r["assets"], r["mode"], r["first"], r["last"]).label
                        for r in runs if not r["success"]],
        "steps": len(steps),
        "max_parallel_steps": max_overlap([(s["start"], s["end"]) for s in steps]),
        "split_s": split,
        "core_s": split["core"],
        "core_sum_s": sum(s["core"] for s in steps),
        "share_outside_core": 1 - split["core"] / wall if wall else float("nan"),
        "cpu_s": tree,
        "cpu_split_s": cpu_split,
        "cpu_share_outside_core": 1 - traced_cpu["core"] / tree if tree else float("nan"),
        "unattributed_core_s": unattributed,
        "stages": stages,
        "top_functions": [{"category": c, "name": n, "seconds": round(s, 3)}
                          for (c, n), s in top],
        "run_wall_s": {mode: sum(r["end"] - r["start"] for r in runs if r["mode"] == mode)
                       for mode in (RANGE, DAY, ONCE)},
        "rows": raw.get("rows", {}),
    }


# --------------------------------------------------------------------------------------------
# The parent: memory of the process tree, the phases, the report


class TreeSampler:
    """Peak resident memory and CPU time of a process and all its descendants, sampled.

    CPU time is the last value seen for each process (user + system), so a process's last
    sampling interval is lost; reaped-children counters are not added (they would count the
    step processes twice).
    """

    def __init__(self, pid: int):
        import psutil

        self._psutil = psutil
        self.root = psutil.Process(pid)
        self.peak_total = 0
        self.peak_single = 0
        self.max_processes = 0
        self.cpu: dict[tuple[int, float], float] = {}

    def sample(self) -> None:
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except self._psutil.Error:
            return
        total = 0
        for proc in procs:
            try:
                with proc.oneshot():
                    rss = proc.memory_info().rss
                    times = proc.cpu_times()
                    self.cpu[(proc.pid, proc.create_time())] = times.user + times.system
            except self._psutil.Error:
                continue
            total += rss
            self.peak_single = max(self.peak_single, rss)
        self.peak_total = max(self.peak_total, total)
        self.max_processes = max(self.max_processes, len(procs))

    @property
    def cpu_s(self) -> float:
        return sum(self.cpu.values())

    def cpu_by_pid(self) -> dict[int, float]:
        out: dict[int, float] = defaultdict(float)
        for (pid, _), seconds in self.cpu.items():
            out[pid] += seconds
        return dict(out)


def _machine_cpu_s() -> float:
    import psutil

    t = psutil.cpu_times()
    return sum(getattr(t, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq", "steal"))


@dataclass
class Phase:
    """One driver subprocess: what it runs and what it measured."""

    name: str
    raw: dict = field(default_factory=dict)
    peak_tree_mb: float = 0.0
    peak_process_mb: float = 0.0
    max_processes: int = 0
    tree_cpu_s: float = 0.0
    machine_cpu_s: float = 0.0
    seconds: float = 0.0
    driver_pid: int = 0
    cpu_by_pid: dict = field(default_factory=dict)


def run_phase(name: str, tmp: Path, env: dict[str, str], spec: dict, bar: Progress,
              task) -> Phase:
    """Start the driver for one phase, tail its progress, sample its tree, wait for it."""
    spec = {**spec, "phase": name, "progress": str(tmp / f"{name}.progress"),
            "result": str(tmp / f"{name}.json")}
    spec_path = tmp / f"{name}.spec.json"
    spec_path.write_text(json.dumps(spec))
    log = tmp / f"{name}.log"
    phase = Phase(name)
    machine0, began = _machine_cpu_s(), time.perf_counter()
    with log.open("w") as handle:
        # A session of its own: on an interrupt the driver and its step processes are killed
        # together, by the driver's process group, and nothing else. (Dagster turns SIGTERM
        # into a cancelled run and the driver would go on with the next one; the temporary
        # instance is thrown away anyway.)
        proc = subprocess.Popen(
            [sys.executable, "-c", "from ct_assets.bench.pipeline import drive; drive()",
             str(spec_path)], env=env, stdout=handle, stderr=subprocess.STDOUT,
            cwd=str(PACKAGE_DIR.parent), start_new_session=True)
        sampler = TreeSampler(proc.pid)
        seen = 0
        try:
            while proc.poll() is None:
                sampler.sample()
                seen = _tail_progress(Path(spec["progress"]), seen, bar, task)
                time.sleep(SAMPLE_INTERVAL_S)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        _tail_progress(Path(spec["progress"]), seen, bar, task)
    phase.seconds = time.perf_counter() - began
    phase.tree_cpu_s = sampler.cpu_s
    phase.driver_pid, phase.cpu_by_pid = proc.pid, sampler.cpu_by_pid()
    phase.machine_cpu_s = _machine_cpu_s() - machine0
    if proc.returncode != 0 or not Path(spec["result"]).exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise RuntimeError(f"the {name} driver exited with {proc.returncode}:\n{tail}")
    phase.raw = json.loads(Path(spec["result"]).read_text())
    phase.peak_tree_mb = sampler.peak_total / 2**20
    phase.peak_process_mb = sampler.peak_single / 2**20
    phase.max_processes = sampler.max_processes
    return phase


def _tail_progress(path: Path, seen: int, bar: Progress, task) -> int:
    """Advance the bar by the complete lines the driver appended since `seen`."""
    if not path.exists():
        return seen
    lines = path.read_text().split("\n")[:-1]       # the last piece may be a partial line
    for line in lines[seen:]:
        parts = line.split("\t")
        if parts[0] == "total":
            bar.update(task, total=int(parts[1]), completed=0)
        elif parts[0] == "done":
            bar.update(task, completed=int(parts[1]))
    return len(lines)


def bench_env(tmp: Path, trace: bool) -> dict[str, str]:
    """Environment of a driver: the temporary data dir, its own DAGSTER_HOME with the
    project's dagster.yaml, the MLflow store inside the data dir."""
    home = tmp / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PACKAGE_DIR / "dagster.yaml", home / "dagster.yaml")
    env = dict(os.environ, CT_DATA_DIR=str(tmp / "data"), DAGSTER_HOME=str(home),
               MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false", PYTHONWARNINGS="ignore")
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop(TRACE_ENV, None)
    if trace:
        (tmp / "trace").mkdir(exist_ok=True)
        env[TRACE_ENV] = str(tmp / "trace")
    return env


def bench_scale(scale: int, plan: dict, bar: Progress, keep: Path | None = None) -> dict:
    """Land, warm up and measure one scale in a fresh temporary data dir."""
    with tempfile.TemporaryDirectory(prefix=f"ct-bench-pipeline-{scale}x-") as name:
        tmp = Path(name)
        warmup = [dt.date.fromisoformat(d) for d in plan["warmup_days"]]
        measured = [dt.date.fromisoformat(d) for d in plan["days"]]
        task = bar.add_task(f"{scale}x: landing days", total=len(warmup) + len(measured))
        landed = land(tmp / "data", warmup + measured, scale,
                      advance=lambda: bar.advance(task))
        landed_measured = land_counts(tmp / "data", measured)
        bar.remove_task(task)
        spec = {k: plan[k] for k in ("trained_from", "start_method", "max_concurrent",
                                     "train_config")}
        warm = None
        if warmup:
            task = bar.add_task(f"{scale}x: warm-up, {len(warmup)} days (in-process runs)")
            warm = run_phase("warmup", tmp, bench_env(tmp, trace=False),
                             {**spec, "days": plan["warmup_days"], "with_model": False,
                              "executor": "in_process"}, bar, task)
            bar.remove_task(task)
        task = bar.add_task(f"{scale}x: backfill of {len(measured)} days (multiprocess runs)")
        load_before = os.getloadavg()
        phase = run_phase("measured", tmp, bench_env(tmp, trace=True),
                          {**spec, "days": plan["days"], "with_model": True,
                           "executor": "multiprocess"}, bar, task)
        bar.remove_task(task)
        summary = analyse(phase.raw, phase.cpu_by_pid, phase.driver_pid)
        summary.update({
            "scale": scale,
            "landed_rows_all_days": landed,
            "landed_flights": landed_measured,
            "peak_tree_rss_mb": round(phase.peak_tree_mb, 1),
            "peak_process_rss_mb": round(phase.peak_process_mb, 1),
            "max_processes": phase.max_processes,
            "tree_cpu_s": round(phase.tree_cpu_s, 2),
            "machine_cpu_s": round(phase.machine_cpu_s, 2),
            "other_cpu_s": round(max(phase.machine_cpu_s - phase.tree_cpu_s, 0.0), 2),
            "load_avg_before": [round(x, 2) for x in load_before],
            "load_avg_after": [round(x, 2) for x in os.getloadavg()],
            "warmup_s": round(warm.seconds, 1) if warm else 0.0,
            "groups": phase.raw["groups"],
            "run_list": [{k: r[k] for k in ("assets", "mode", "first", "last", "success")}
                         | {"seconds": round(r["end"] - r["start"], 3)}
                         for r in phase.raw["runs"]],
        })
        if keep is not None:
            shutil.copytree(tmp, keep / f"{scale}x", dirs_exist_ok=True)
        return summary


def land_counts(data_dir: Path, days: list[dt.date]) -> int:
    """Flights rows landed for `days` (read back from the landed files)."""
    import pyarrow.parquet as pq

    from ct_assets.core import landing

    return sum(pq.read_metadata(landing.landed_path(data_dir / "landing", "flights", d)).num_rows
               for d in days)


# --------------------------------------------------------------------------------------------
# Report: table, JSON, Markdown, PNG


def machine_info() -> dict:
    import dagster
    import psutil

    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cores": os.cpu_count(), "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "cpu": cpu, "python": platform.python_version(), "dagster": dagster.__version__,
            "platform": platform.platform()}


def _fmt_s(s: float) -> str:
    return f"{s:,.1f}" if s < 600 else f"{s:,.0f} ({s / 60:.1f} min)"


def comparison_rows(result: dict) -> list[tuple[str, list[str], str]]:
    """(figure, value per scale, last scale against the first) rows of the side-by-side table:
    a ratio for amounts, a difference in percentage points for shares."""
    scales = [result["scales"][k] for k in sorted(result["scales"], key=int)]
    first, last, many = scales[0], scales[-1], len(scales) > 1

    def row(label, key_fn, fmt, share=False):
        a, b = key_fn(first), key_fn(last)
        if not many:
            versus = ""
        elif share:
            versus = f"{(b - a) * 100:+.1f} pp"
        else:
            versus = f"{b / a:.2f}x" if a else "–"
        return label, [fmt(key_fn(s)) for s in scales], versus

    def rows_of(table):
        return lambda s: s["rows"].get(table, 0)

    days = result["measured_days"]
    rows = [
        row("flights landed (measured days)", lambda s: s["landed_flights"], "{:,}".format),
        row("validated flights", rows_of("validated_flights"), "{:,}".format),
        row("feature rows", rows_of("flight_features"), "{:,}".format),
        row("predictions", rows_of("daily_predictions"), "{:,}".format),
        ("Dagster runs / steps", [f"{s['runs']} / {s['steps']}" for s in scales], ""),
        row("wall time, s", lambda s: s["wall_s"], _fmt_s),
        row("wall time per day, s", lambda s: s["wall_s"] / days, "{:.2f}".format),
        row("flights per second of wall time", lambda s: s["landed_flights"] / s["wall_s"],
            "{:,.0f}".format),
        row("peak RSS of the process tree, MB", lambda s: s["peak_tree_rss_mb"],
            "{:,.0f}".format),
        row("largest single process, MB", lambda s: s["peak_process_rss_mb"], "{:,.0f}".format),
    ]
    for cat in CATEGORIES:
        rows.append(row(f"  {CATEGORY_LABELS[cat]}, s", lambda s, c=cat: s["split_s"][c],
                        _fmt_s))
    rows.append(row("share of wall time outside core/", lambda s: s["share_outside_core"],
                    "{:.1%}".format, share=True))
    rows.append(row("CPU time of the process tree, core-s", lambda s: s["cpu_s"], _fmt_s))
    for cat in CPU_CATEGORIES:
        rows.append(row(f"  {CPU_LABELS[cat]}, core-s",
                        lambda s, c=cat: s["cpu_split_s"][c], _fmt_s))
    rows += [
        row("share of CPU time outside core/", lambda s: s["cpu_share_outside_core"],
            "{:.1%}".format, share=True),
        ("most steps running at once", [str(s["max_parallel_steps"]) for s in scales], ""),
        row("CPU used by other processes, core-s", lambda s: s["other_cpu_s"],
            "{:,.0f}".format),
    ]
    return rows


def stage_rows(result: dict) -> tuple[list[str], list[list[str]]]:
    """Per asset: steps, time in steps per scale and last/first, CPU time of its step
    processes per scale and last/first, share of the step time inside core/ per scale."""
    scales = sorted(result["scales"], key=int)
    first, last = result["scales"][scales[0]], result["scales"][scales[-1]]
    many = len(scales) > 1
    header = ["asset", "steps", *[f"{k}x s" for k in scales], *(["ratio"] if many else []),
              *[f"{k}x CPU s" for k in scales], *(["CPU ratio"] if many else []),
              *[f"core {k}x" for k in scales]]

    def ratio(name, key):
        a, b = first["stages"][name][key], last["stages"].get(name, {}).get(key, 0.0)
        return [f"{b / a:.2f}x" if a else "–"] if many else []

    out = []
    for name in first["stages"]:
        per = [result["scales"][k]["stages"].get(name) for k in scales]
        out.append([name, str(first["stages"][name]["steps"]),
                    *["–" if st is None else f"{st['step_s']:,.1f}" for st in per],
                    *ratio(name, "step_s"),
                    *["–" if st is None else f"{st['cpu_s']:,.1f}" for st in per],
                    *ratio(name, "cpu_s"),
                    *["–" if not st or not st["step_s"] else f"{st['core_s'] / st['step_s']:.0%}"
                      for st in per]])
    return header, out


def print_result(result: dict, console: Console) -> None:
    scales = sorted(result["scales"], key=int)
    title = (f"ct bench pipeline: {result['first']} .. {result['last']} "
             f"({result['measured_days']} days), multiprocess executor "
             f"({result['start_method']}), {result['machine']['cores']} cores")
    table = Table(title=title)
    table.add_column("figure")
    for key in scales:
        table.add_column(f"{key}x", justify="right")
    if len(scales) > 1:
        table.add_column(f"{scales[-1]}x / {scales[0]}x", justify="right")
    for label, values, ratio in comparison_rows(result):
        table.add_row(label, *values, *([ratio] if len(scales) > 1 else []))
    console.print(table)
    header, rows = stage_rows(result)
    stages = Table(title="per asset: time in its steps, CPU time of its step processes, and the "
                         "share of the step time inside core/")
    for i, col in enumerate(header):
        stages.add_column(col, justify="left" if i == 0 else "right")
    for cells in rows:
        stages.add_row(*cells)
    console.print(stages)
    for key in scales:
        failed = result["scales"][key]["failed_runs"]
        if failed:
            console.print(f"[red]{key}x: {len(failed)} run(s) failed:[/red] "
                          + "; ".join(failed[:5]))


METHOD = """\
## Method

- **What runs.** Every asset of `ct_assets.definitions.ASSETS`, taken from the code at run time,
  is materialized with `dagster.execute_job` on a persistent `DagsterInstance`: a fresh temporary
  `DAGSTER_HOME` holding the project's `ct_assets/dagster.yaml` (so the `warehouse` pool, limit 1,
  applies) and a fresh temporary `CT_DATA_DIR` (landing files, warehouse, profiles, MLflow
  store). Nothing under `data/` is touched. The executor is Dagster's multiprocess executor,
  `max_concurrent` = number of cores, one process per step; `spawn` (Dagster's default) starts
  each step in a new interpreter, `forkserver` forks it from a server that imported dagster,
  the definitions and mlflow once (in the first run of the backfill).
- **Runs, as a backfill makes them.** Assets are taken in topological order. An asset whose
  backfill policy is `single_run` is materialized for the whole range in one run; the others
  (`multi_run(1)` or no policy) one day per run, as Dagster's backfill daemon would. Consecutive
  assets of the same kind share a run when their dependencies allow, so the executor may run
  their steps in parallel (the plan of each bench is listed with it). Runs are launched one after
  another: the train chain of day D+1 needs the champion decided on day D. They are executed by
  one driver process that imported the definitions once; under `dagster dev` or the daemon each
  run is also launched in a process of its own (`dagster api execute_run`), which adds loading
  the code location (about 3 s here) to every run, so these figures are a lower bound.
- **History.** Training needs a full window (28 days) before its day. The days before the first
  measured day are a warm-up: landed and processed by everything upstream of `candidate_model`,
  with in-process runs, not measured. The month warms up on January and measures February on;
  the year has no warm-up: every stage runs on every day, and the assets downstream of
  `candidate_model` from the first day with a full window (2013-01-29).
- **Volume.** At scale k each day's flights are the real ones plus k-1 jittered copies: new
  flight numbers, unique within (carrier, origin) and day (the natural key of the duplicate
  rule); scheduled minute moved by up to 10 minutes inside its hour (so `time_hour` stays true),
  delays by a few minutes (actual times follow), air time by about 3 %, all clipped to the
  TableSpec ranges, so the copies pass validation. Weather stays 1x. Days are landed with
  `core.landing.write_new`, as `ct replay` does.
- **Share outside core/.** Each step process wraps every function and method defined in
  `ct_assets/core/` (and, as a category of its own, `ct_assets/registry.py`, the MLflow store)
  with a timer that records only outermost calls; for the context managers of core
  (`warehouse.connect`, `transaction`) only their enter and exit are timed. The worker launch,
  start and end of each step come from Dagster's event log. A sweep over all these intervals
  gives each instant of the backfill's wall time to the first of: core, MLflow store, rest of
  a step, step process start-up, between steps (run start and finish, a step process's exit
  after its last event, waits for the pool). *Share outside core* = 1 - core / wall time.
  Not all of it is Dagster: the MLflow store (including importing mlflow in each process that
  uses it) and the assets' own code in `defs/` (SQL for metadata, the plots of
  `model_evaluation`) are outside core too, and shown apart.
- **CPU time.** On a shared 2-core machine wall time depends on what else runs; CPU time much
  less. The parent samples the CPU time (user + system) of every process of the tree every
  0.2 s (the last interval of each process is lost); traced core and MLflow calls also record
  the CPU time of their process. The CPU split: core, MLflow store, the rest of the step
  processes (interpreter start, imports, Dagster's step machinery, asset code), the driver (run
  orchestration: `execute_job`, the executor loop, the event log), the forkserver.
  *Share of CPU time outside core* = 1 - core CPU / tree CPU.
- **Memory.** The resident set size of the driver process and all its descendants (step
  processes, forkserver), summed, sampled every 0.2 s with psutil: the peak of that sum. Pages
  shared between processes count in each, so the sum is an upper bound; the largest single
  process is shown too.
- **Noise.** The machine is shared: the CPU time used by other processes during the measured
  phase (machine CPU time from `/proc/stat` minus the CPU time of the bench's process tree)
  and the load average are recorded with each figure. Wall times are only comparable between
  runs that saw similar load; compare CPU times first.
"""


def run_plan(groups: list[dict]) -> str:
    """The groups of a bench in words: `a + b` (one run over the range) -> `c` (a run a day)."""
    kind = {RANGE: "one run for the range", DAY: "one run per day", ONCE: "one run"}
    return " → ".join(f"`{' + '.join(g['assets'])}` ({kind[g['mode']]}"
                      + (", days with a window" if g["needs_model"] else "") + ")"
                      for g in groups)


def render_markdown(doc: dict) -> str:
    """The whole report: machine, one section per bench (label), method, notes."""
    m = doc["machine"]
    lines = ["# ct bench pipeline: what orchestration costs, and how it scales", "",
             "Generated by `ct bench pipeline` (`ct_assets/bench/pipeline.py`); raw figures in "
             "`pipeline.json`, time per stage in `pipeline.png`.", "",
             f"Machine: {m['cores']} cores ({m['cpu'] or 'unknown CPU'}), {m['ram_gb']} GB RAM, "
             f"Python {m['python']}, dagster {m['dagster']}, {m['platform']}.", ""]
    for result in doc["benches"].values():
        scales = sorted(result["scales"], key=int)
        first = result["scales"][scales[0]]
        lines += [f"## {result['label']}: {result['first']} .. {result['last']} "
                  f"({result['measured_days']} days)", "",
                  f"Measured {result['measured_at']}; start method `{result['start_method']}`; "
                  f"training window {result['train_config'].get('window_days', 28)} days from "
                  f"{result['trained_from']}; warm-up {result['warmup_days']} days.", "",
                  "Runs: " + run_plan(first["groups"]) + ".", ""]
        header = ["figure", *[f"{k}x" for k in scales]]
        if len(scales) > 1:
            header.append(f"{scales[-1]}x / {scales[0]}x")
        lines += ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
        for label, values, ratio in comparison_rows(result):
            name = "… " + label.strip() if label.startswith("  ") else label
            lines.append("| " + " | ".join([name, *values, *([ratio] if len(scales) > 1
                                                                 else [])]) + " |")
        header, rows = stage_rows(result)
        lines += ["", "Per asset, summed over the backfill: time in its steps (s), CPU time of "
                  "its step processes including their start-up (core-s), and the share of the "
                  "step time inside core/:", "",
                  "| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
        lines += ["| " + " | ".join(cells) + " |" for cells in rows]
        last = result["scales"][scales[-1]]
        lines += ["", f"Largest traced functions at {scales[-1]}x: " + ", ".join(
            f"`{f['name']}` {f['seconds']:,.1f} s" for f in last["top_functions"][:6]) + ".",
            ""]
        for key in scales:
            s = result["scales"][key]
            share = s["other_cpu_s"] / s["wall_s"] / m["cores"] if s["wall_s"] else 0.0
            lines.append(f"- {key}x: load average {s['load_avg_before'][0]:.2f} before, "
                         f"{s['load_avg_after'][0]:.2f} after; other processes used "
                         f"{s['other_cpu_s']:,.0f} core-s during the {s['wall_s']:,.0f} s "
                         f"({share:.0%} of the machine); warm-up {s['warmup_s']:,.0f} s; "
                         f"{len(s['failed_runs'])} failed run(s)"
                         + (": " + "; ".join(s["failed_runs"][:5]) if s["failed_runs"] else "")
                         + ".")
        if "year" not in doc["benches"] and result["label"] != "year":
            per_day = first["wall_s"] / result["measured_days"]
            lines += ["", f"Full year at {scales[0]}x: not measured. At this bench's "
                      f"{per_day:.1f} s per day it would take about {per_day * 365 / 60:.0f} min "
                      f"(`ct bench pipeline --year --scales {scales[0]}"
                      + (f" --start-method {result['start_method']}"
                         if result["start_method"] != "spawn" else "") + "`)."]
        if result.get("note"):
            lines += ["", result["note"]]
        lines.append("")
    lines.append(METHOD)
    return "\n".join(lines)


PLOT_COLOURS = {"core": "#2b6cb0", "registry": "#805ad5", "step_other": "#ed8936",
                "step_rest": "#ed8936", "step_startup": "#a0aec0", "between_steps": "#e2e8f0",
                "driver": "#e53e3e", "other": "#718096"}
PLOT_LABELS = {"core": "core/", "registry": "MLflow store", "step_other": "rest of step",
               "step_rest": "rest of step", "step_startup": "step process start-up",
               "between_steps": "between steps", "driver": "driver (run orchestration)",
               "other": "rest of the tree"}


def plot(doc: dict, path: Path) -> Path:
    """For each bench: where the wall time and the CPU time went at each scale (left) and, per
    asset, the time in its steps at each scale (right), stacked by category."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    benches = list(doc["benches"].values())
    rows = [max(len(b["scales"]) * len(next(iter(b["scales"].values()))["stages"]), 8)
            for b in benches]
    fig, axes = plt.subplots(len(benches), 2, squeeze=False,
                             figsize=(14, sum(1.2 + 0.2 * r for r in rows)),
                             gridspec_kw={"height_ratios": rows, "width_ratios": [1, 1.5]})
    for (left, right), result in zip(axes, benches, strict=True):
        scales = sorted(result["scales"], key=int)
        bars = [(k, kind) for k in scales for kind in ("wall", "CPU")]
        y = np.arange(len(bars))[::-1] + np.repeat(np.arange(len(scales))[::-1] * 0.6, 2)
        seen = set()
        for yi, (k, kind) in zip(y, bars, strict=True):
            s = result["scales"][k]
            split, cats = ((s["split_s"], CATEGORIES) if kind == "wall"
                           else (s.get("cpu_split_s", {}), CPU_CATEGORIES))
            base = 0.0
            for cat in cats:
                value = split.get(cat, 0.0)
                label = None if PLOT_LABELS[cat] in seen else PLOT_LABELS[cat]
                seen.add(PLOT_LABELS[cat])
                left.barh(yi, value, left=base, color=PLOT_COLOURS[cat], label=label,
                          edgecolor="white", linewidth=0.5, height=0.8)
                base += value
            share = s["share_outside_core"] if kind == "wall" else s.get(
                "cpu_share_outside_core", float("nan"))
            left.text(base, yi, f" {base:,.0f} s, {share:.0%} outside core", va="center",
                      fontsize=7)
        left.set_yticks(y, [f"{k}x {kind}" for k, kind in bars], fontsize=8)
        left.set_xlim(0, left.get_xlim()[1] * 1.6)    # room for the labels
        left.set_xlabel("seconds: wall time, and CPU time of the process tree")
        left.set_title(f"{result['label']}: where the time went", fontsize=10)
        names = list(result["scales"][scales[0]]["stages"])
        labels, parts = [], defaultdict(list)
        for name in names:
            for k in scales:
                st = result["scales"][k]["stages"].get(name, {})
                core, reg = st.get("core_s", 0.0), st.get("registry_s", 0.0)
                labels.append(f"{name} {k}x")
                parts["core"].append(core)
                parts["registry"].append(reg)
                parts["step_other"].append(max(st.get("step_s", 0.0) - core - reg, 0.0))
                parts["step_startup"].append(st.get("startup_s", 0.0))
        y = np.arange(len(labels))[::-1] + np.repeat(np.arange(len(names))[::-1] * 0.5,
                                                     len(scales))
        base = np.zeros(len(labels))
        for cat in ("core", "registry", "step_other", "step_startup"):
            right.barh(y, parts[cat], left=base, color=PLOT_COLOURS[cat],
                       label=PLOT_LABELS[cat], height=0.85)
            base += np.array(parts[cat])
        right.set_yticks(y, labels, fontsize=7)
        right.set_xlabel("seconds in the steps of each asset (summed over the backfill)")
        right.set_title(f"{result['label']}: time per asset, "
                        + " vs ".join(f"{k}x" for k in scales), fontsize=10)
        right.legend(fontsize=7, loc="lower right")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_outputs(result: dict, out: Path) -> dict[str, Path]:
    """Merge `result` into `out/pipeline.json` (one entry per label), render .md and .png."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {ext: out / f"pipeline.{ext}" for ext in ("json", "md", "png")}
    doc = {"benches": {}}
    if paths["json"].exists():
        with contextlib.suppress(ValueError):
            doc = json.loads(paths["json"].read_text())
    doc["machine"] = result["machine"]
    doc.setdefault("benches", {})[result["label"]] = result
    paths["json"].write_text(json.dumps(doc, indent=1, default=str))
    paths["md"].write_text(render_markdown(doc))
    plot(doc, paths["png"])
    return paths


# --------------------------------------------------------------------------------------------
# The command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=30, help="measured days (default 30)")
    parser.add_argument("--year", action="store_true",
                        help="measure every day of the partitions (no warm-up; training from "
                             "the first day with a full window)")
    parser.add_argument("--first", default=DEFAULT_FIRST.isoformat(), metavar="YYYY-MM-DD",
                        help="first measured day; the days before it are warm-up "
                             "(default 2013-02-01)")
    parser.add_argument("--scales", default="1,10",
                        help="volumes to compare, comma-separated (default 1,10)")
    parser.add_argument("--out", default="docs/benchmarks",
                        help="folder for pipeline.json/.md/.png (default docs/benchmarks)")
    parser.add_argument("--window", type=int, default=28, help="training window, days")
    parser.add_argument("--holdout", type=int, default=3, help="held-out days of the window")
    parser.add_argument("--n-estimators", type=int, default=None,
                        help="trees per candidate (default: TrainConfig's)")
    parser.add_argument("--start-method", choices=("spawn", "forkserver"), default="spawn",
                        help="how step processes start (default spawn, Dagster's default)")
    parser.add_argument("--max-concurrent", type=int, default=0,
                        help="steps at once per run (default 0: one per core)")
    parser.add_argument("--note", help="a sentence about the conditions, kept in the .md")
    parser.add_argument("--keep", help="copy each scale's data dir and logs here")


def make_plan(args: argparse.Namespace) -> dict:
    """Days, warm-up and training start of the bench from the command line.

    The days before the first measured day are the warm-up. Training starts at the first
    measured day that has a full window behind it: the first measured day itself when the
    warm-up is at least a window long (the month), else later (the year: day 29).
    """
    from ct_assets.core.days import parse_day
    from ct_assets.settings import Settings

    settings = Settings.from_env()          # the partitions: 2013 unless CT_PARTITIONS_* say
    start, end = settings.start, settings.end
    if args.year:
        first, days = start, (end - start).days
    else:
        first, days = parse_day(args.first), args.days
    if first < start or days < 1 or first + dt.timedelta(days=days) > end:
        raise ValueError(f"{days} days from {first} leave the partitions {start} .. {end}")
    if args.holdout < 1 or args.window <= args.holdout:
        raise ValueError(f"--window {args.window} must be longer than --holdout {args.holdout}")
    trained_from = max(first, start + dt.timedelta(days=args.window))
    warmup = [start + dt.timedelta(days=i) for i in range((first - start).days)]
    measured = [first + dt.timedelta(days=i) for i in range(days)]
    if trained_from > measured[-1]:
        raise ValueError(f"no measured day has a {args.window}-day window before it")
    train = {"window_days": args.window, "holdout_days": args.holdout}
    if args.n_estimators:
        train["n_estimators"] = args.n_estimators
    label = "year" if args.year else f"{days} day" + ("s" if days != 1 else "")
    if args.start_method != "spawn":
        label += f", {args.start_method}"
    return {"days": [d.isoformat() for d in measured],
            "warmup_days": [d.isoformat() for d in warmup],
            "trained_from": trained_from.isoformat(), "train_config": train,
            "start_method": args.start_method, "max_concurrent": args.max_concurrent,
            "label": label}


def run(args: argparse.Namespace, console: Console) -> int:
    try:
        plan = make_plan(args)
        scales = [int(s) for s in str(args.scales).split(",") if s.strip()]
        if not scales or min(scales) < 1:
            raise ValueError(f"--scales {args.scales!r}: positive integers, e.g. 1,10")
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    keep = Path(args.keep) if args.keep else None
    results = {}
    started = dt.datetime.now().replace(microsecond=0).isoformat(sep=" ")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        try:
            results = {str(s): bench_scale(s, plan, bar, keep) for s in scales}
        except RuntimeError as exc:
            console.print(f"[red]failed:[/red] {exc}")
            return 1
    result = {
        "label": plan["label"], "first": plan["days"][0], "last": plan["days"][-1],
        "measured_days": len(plan["days"]), "warmup_days": len(plan["warmup_days"]),
        "trained_from": plan["trained_from"], "train_config": plan["train_config"],
        "start_method": plan["start_method"], "max_concurrent": plan["max_concurrent"],
        "measured_at": started, "machine": machine_info(), "note": args.note or "",
        "scales": results,
    }
    print_result(result, console)
    paths = write_outputs(result, Path(args.out))
    console.print("written: " + ", ".join(str(p) for p in paths.values()))
    failed = sum(len(s["failed_runs"]) for s in results.values())
    return 1 if failed else 0
