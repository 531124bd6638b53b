"""The parent of a bench: for each scale, land the days in a fresh temporary data dir, run the
warm-up and the measured phase each in a driver subprocess, sample the memory and CPU time of
its process tree, tail its progress, and summarise what it measured."""

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import Progress

from ct_assets.bench import reporting
from ct_assets.bench.pipeline.analysis import analyse
from ct_assets.bench.pipeline.data import land, land_counts
from ct_assets.bench.pipeline.tracing import TRACE_ENV
from ct_assets.bench.sampling import TreeSampler

SAMPLE_INTERVAL_S = 0.2
PACKAGE_DIR = Path(__file__).resolve().parents[2]      # ct_assets/


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
    machine0, began = reporting.machine_busy_s(), time.perf_counter()
    with log.open("w") as handle:
        # A session of its own: on an interrupt the driver and its step processes are killed
        # together, by the driver's process group, and nothing else. (Dagster turns SIGTERM
        # into a cancelled run and the driver would go on with the next one; the temporary
        # instance is thrown away anyway.)
        proc = subprocess.Popen(
            [sys.executable, "-c", "from ct_assets.bench.pipeline.driver import drive; drive()",
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
    phase.machine_cpu_s = reporting.machine_busy_s() - machine0
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


def bench_env(tmp: Path, trace: bool, train: dict | None = None) -> dict[str, str]:
    """Environment of a driver: the temporary data dir, its own DAGSTER_HOME with the
    project's dagster.yaml, the MLflow store inside the data dir, the retrain window."""
    home = tmp / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PACKAGE_DIR / "dagster.yaml", home / "dagster.yaml")
    env = dict(os.environ, CT_DATA_DIR=str(tmp / "data"), DAGSTER_HOME=str(home),
               MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false", PYTHONWARNINGS="ignore")
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop(TRACE_ENV, None)
    for key, name in (("window_days", "CT_WINDOW_DAYS"), ("holdout_days", "CT_HOLDOUT_DAYS")):
        if (train or {}).get(key):
            env[name] = str(train[key])
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
            warm = run_phase("warmup", tmp, bench_env(tmp, trace=False, train=plan["train_config"]),
                             {**spec, "days": plan["warmup_days"], "with_model": False,
                              "executor": "in_process"}, bar, task)
            bar.remove_task(task)
        task = bar.add_task(f"{scale}x: backfill of {len(measured)} days ({plan['executor']} "
                            "runs)")
        load_before = os.getloadavg()
        phase = run_phase("measured", tmp, bench_env(tmp, trace=True, train=plan["train_config"]),
                          {**spec, "days": plan["days"], "with_model": True,
                           "executor": plan["executor"]}, bar, task)
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
