"""The live loop of a bench: `dagster dev` on a temporary DAGSTER_HOME (the project's
`dagster.yaml`), started in a session of its own, watched until the loop has caught up, and
stopped with its whole process tree; the CPU time of that tree, sampled and from the kernel's
accounting of reaped children."""

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ct_assets.bench.pipeline.tracing import TRACE_ENV
from ct_assets.bench.sampling import TreeSampler

PACKAGE_DIR = Path(__file__).resolve().parents[2]      # ct_assets/
CODE_LOCATION = "ct_assets.bench.catchup.traced"
SAMPLE_INTERVAL_S = 0.5
STOP_TIMEOUT_S = 60


@dataclass
class LoopConfig:
    """The environment of the loop under test."""

    data_dir: Path
    home: Path
    sensor_interval_s: int | None     # None: each sensor's own (bench.project_intervals)
    serve_from: str | None            # None: the day after the newest featurised day
    window_days: int | None = None
    holdout_days: int | None = None
    trace_dir: Path | None = None
    launcher: str = "project"          # "project": dagster.yaml as is; "default": Dagster's
    checkout: Path | None = None       # another checkout's code (the before), untraced

    @property
    def root(self) -> Path:
        return self.checkout or PACKAGE_DIR.parent

    @property
    def code_location(self) -> str:
        return "ct_assets.definitions" if self.checkout else CODE_LOCATION

    def env(self) -> dict[str, str]:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "dagster.yaml").write_text(instance_yaml(self.launcher, self.root))
        env = dict(os.environ, CT_DATA_DIR=str(self.data_dir), DAGSTER_HOME=str(self.home),
                   MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false", PYTHONWARNINGS="ignore")
        for name in ("MLFLOW_TRACKING_URI", TRACE_ENV, "CT_SENSOR_INTERVAL_S", "CT_SERVE_FROM",
                     "CT_WINDOW_DAYS", "CT_HOLDOUT_DAYS"):
            env.pop(name, None)
        optional = {"CT_SENSOR_INTERVAL_S": self.sensor_interval_s,
                    "CT_SERVE_FROM": self.serve_from, "CT_WINDOW_DAYS": self.window_days,
                    "CT_HOLDOUT_DAYS": self.holdout_days, TRACE_ENV: self.trace_dir}
        env.update({k: str(v) for k, v in optional.items() if v is not None})
        if self.checkout:
            env["PYTHONPATH"] = str(self.checkout)
            env.pop(TRACE_ENV, None)
        if self.trace_dir is not None:
            self.trace_dir.mkdir(parents=True, exist_ok=True)
        return env


def instance_yaml(launcher: str, root: Path = PACKAGE_DIR.parent) -> str:
    """The project's `dagster.yaml`, or (launcher "default") the same without its run launcher:
    each run then a fresh interpreter started by the code server, as Dagster does by default."""
    text = (root / "ct_assets" / "dagster.yaml").read_text()
    if launcher == "project":
        return text
    import yaml

    config = yaml.safe_load(text)
    config.pop("run_launcher", None)
    return yaml.safe_dump(config, sort_keys=False)


@dataclass
class LiveRun:
    """What the loop cost: wall time to the watcher's verdict, CPU time of the tree."""

    wall_s: float = 0.0
    cpu_s: float = 0.0                 # reaped children (kernel accounting), whole tree
    sampled_cpu_s: float = 0.0         # sampled every SAMPLE_INTERVAL_S (a lower bound)
    peak_tree_rss_mb: float = 0.0
    peak_process_rss_mb: float = 0.0
    max_processes: int = 0
    machine_cpu_s: float = 0.0         # every process of the machine, over the same time
    verdict: str = ""
    timeline: dict[str, float] = field(default_factory=dict)
    cpu_by_role: dict[str, float] = field(default_factory=dict)


ROLES = (("dagster dev", " dev -m "), ("webserver", "dagster_webserver"),
         ("daemon", "dagster._daemon"), ("code server", "code-server start"),
         ("code server", "api grpc"), ("run processes", "multiprocessing"))


def role(command: str) -> str:
    """Which part of `dagster dev` a process is, from its command line."""
    return next((name for name, marker in ROLES if marker in command), "other")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _stop(proc: subprocess.Popen) -> None:
    """SIGINT to the session (what Ctrl-C does to `dagster dev`), then SIGKILL if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # whatever of the session outlived its parent (a run process being torn down)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def run_loop(config: LoopConfig, log: Path, watch: Callable[[float], str | None],
             machine_busy: Callable[[], float]) -> LiveRun:
    """Start `dagster dev`, call `watch(elapsed)` every poll until it returns a verdict, stop
    the loop. The wall time runs from the start of `dagster dev` to the verdict."""
    from ct_assets.bench.catchup.watch import POLL_S

    env = config.env()
    dagster = Path(sys.executable).parent / "dagster"
    command = [str(dagster), "dev", "-m", config.code_location, "--host", "127.0.0.1",
               "--port", str(free_port())]
    out = LiveRun()
    # A `kill` of the bench stops the loop too (the finally below), not only Ctrl-C.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    cpu0, machine0 = _children_cpu_s(), machine_busy()
    began = time.perf_counter()
    with log.open("w") as handle:
        proc = subprocess.Popen(command, env=env, cwd=str(config.root), stdout=handle,
                                stderr=subprocess.STDOUT, start_new_session=True)
        sampler = TreeSampler(proc.pid)
        next_poll = 0.0
        try:
            while True:
                sampler.sample()
                elapsed = time.perf_counter() - began
                if proc.poll() is not None:
                    out.verdict = f"dagster dev exited with {proc.returncode}"
                    break
                if elapsed >= next_poll:
                    next_poll = elapsed + POLL_S
                    verdict = watch(elapsed)
                    if verdict:
                        out.verdict = verdict
                        break
                time.sleep(SAMPLE_INTERVAL_S)
        finally:
            out.wall_s = time.perf_counter() - began
            _stop(proc)
            signal.signal(signal.SIGTERM, previous)
    out.cpu_s = _children_cpu_s() - cpu0
    out.machine_cpu_s = machine_busy() - machine0
    out.sampled_cpu_s = sampler.cpu_s
    out.cpu_by_role = {k: round(v, 1) for k, v in sampler.cpu_by(role).items()}
    out.peak_tree_rss_mb = sampler.peak_total / 2**20
    out.peak_process_rss_mb = sampler.peak_single / 2**20
    out.max_processes = sampler.max_processes
    return out
