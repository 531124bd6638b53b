"""Analysis of a driver's raw figures: the wall time of the backfill split among core, the
MLflow store, the rest of the steps, step start-up and the time between steps; the CPU time
split among the processes; per-asset step times and the largest traced functions."""

from collections import defaultdict

from ct_assets.bench.pipeline.plan import DAY, ONCE, RANGE, RunSpec
from ct_assets.bench.pipeline.tracing import INSTRUMENTATION

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
    # The backfill's CPU: from its first run to its last. What the driver and the forkserver
    # used before (imports, the preload: once per daemon, not per backfill) is set apart, and
    # so is the bench's own tracer, in the process it ran in.
    startup = {int(pid): cpu for pid, cpu in raw.get("startup_cpu", {}).items()}
    tracer: dict[int, float] = defaultdict(float)
    for pid, category, _, _, _, cpu in traces:
        if category == INSTRUMENTATION:
            tracer[pid] += cpu
    cpu_by_pid = {pid: max(cpu - startup.get(pid, 0.0) - tracer.get(pid, 0.0), 0.0)
                  for pid, cpu in (cpu_by_pid or {}).items()}
    by_pid = defaultdict(list)
    for step in steps:
        step.update(core=0.0, registry=0.0, core_cpu=0.0, registry_cpu=0.0)
        by_pid[step.get("pid")].append(step)
    functions = defaultdict(float)
    unattributed = 0.0
    traced_cpu = defaultdict(float)
    for pid, category, name, lo, hi, cpu in traces:
        traced_cpu[category] += cpu
        if category == INSTRUMENTATION:       # the bench's tracer: no step's, no function's
            continue
        functions[(category, name)] += hi - lo
        # the step of that process running at that time (within a second of it: a step
        # process's own start-up and exit are outside its step events)
        mine = by_pid.get(pid, [])
        owner = next((s for s in mine if s["start"] <= lo <= s["end"]), None) or next(
            (s for s in mine if s["start"] - 1 <= lo <= s["end"] + 1), None)
        if owner is None:
            unattributed += hi - lo
        else:
            owner[category] += hi - lo
            owner[f"{category}_cpu"] += cpu
    intervals = [(lo, hi, category) for _, category, _, lo, hi, _ in traces
                 if category != INSTRUMENTATION]
    for step in steps:
        intervals.append((step["start"], step["end"], "step_other"))
        if "launched" in step:
            intervals.append((step["launched"], step["start"], "step_startup"))
    split = sweep(intervals, raw["start"], raw["end"])
    wall = raw["end"] - raw["start"]
    stages: dict[str, dict] = {}
    counted: set[int] = set()
    # A process that ran several steps (a run's process, `--executor project`) shares its CPU
    # time among them by their step time.
    step_time = defaultdict(float)
    for step in steps:
        step_time[step.get("pid")] += step["end"] - step["start"]
    for step in steps:
        stage = stages.setdefault(step["asset"], dict.fromkeys(
            ("step_s", "core_s", "registry_s", "startup_s", "cpu_s", "core_cpu_s"), 0.0))
        stage["steps"] = stage.get("steps", 0) + 1
        stage["step_s"] += step["end"] - step["start"]
        stage["core_s"] += step["core"]
        stage["registry_s"] += step["registry"]
        stage["startup_s"] += step["start"] - step.get("launched", step["start"])
        stage["core_cpu_s"] += step["core_cpu"]
        counted.add(step.get("pid"))
        share = ((step["end"] - step["start"]) / step_time[step.get("pid")]
                 if step_time[step.get("pid")] else 1.0 / len(by_pid[step.get("pid")]))
        stage["cpu_s"] += cpu_by_pid.get(step.get("pid"), 0.0) * share
    tree = sum(cpu_by_pid.values())
    # and processes a step forked for part of its work (candidate_model builds the drift
    # reference in a child while it fits): theirs is step time too, not the tree's rest
    counted |= {pid for pid, *_ in traces}
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
        "step_processes": len({s.get("pid") for s in steps}),
        "max_parallel_steps": max_overlap([(s["start"], s["end"]) for s in steps]),
        "split_s": split,
        "core_s": split["core"],
        "core_sum_s": sum(s["core"] for s in steps),
        "share_outside_core": 1 - split["core"] / wall if wall else float("nan"),
        "cpu_s": tree,
        "cpu_split_s": cpu_split,
        "cpu_share_outside_core": 1 - traced_cpu["core"] / tree if tree else float("nan"),
        "startup_cpu_s": sum(startup.values()),
        "instrumentation_cpu_s": sum(tracer.values()),
        "unattributed_core_s": unattributed,
        "stages": stages,
        "top_functions": [{"category": c, "name": n, "seconds": round(s, 3)}
                          for (c, n), s in top],
        "run_wall_s": {mode: sum(r["end"] - r["start"] for r in runs if r["mode"] == mode)
                       for mode in (RANGE, DAY, ONCE)},
        "rows": raw.get("rows", {}),
    }
