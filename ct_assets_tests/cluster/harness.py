"""A local cluster for a test module, and what the tests read from it: the Dagster instance
(Postgres), the MLflow registry (the tracking server), the Celery results (which worker ran a
run) and the processes. On a timeout the failure carries the runs' states and the logs."""

import contextlib
import datetime as dt
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
import pyarrow.parquet as pq
import pytest

from ct_assets.cluster import checks, local
from ct_assets.cluster.config import Cluster
from ct_assets.core import landing
from ct_assets.settings import Settings
from ct_assets_tests.defs.helpers import land_real_day

KILLED = "signal 9"
SENSOR_INTERVAL_S = 5
WINDOW_DAYS, HOLDOUT_DAYS = 10, 2
TASK_ID_TAG = "dagster-celery/task_id"
RUN_ENDS = {dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE,
            dg.DagsterEventType.RUN_CANCELED}


def land(settings: Settings, days: list[dt.date], shift_from: dt.date | None = None) -> None:
    """Land real days; from `shift_from` on, every departure is 90 minutes later (a shift in
    the world that validation accepts and the delay features see)."""
    for day in days:
        land_real_day(settings, day, delayed=shift_from is not None and day >= shift_from)


def land_at_once(settings: Settings, days: list[dt.date]) -> None:
    """Land real days so that a sensor's tick sees all of them or none: written in a folder of
    their own, then moved into the landing folder (a rename each)."""
    staging = Settings(data_dir=settings.data_dir / ".staging")
    land(staging, days)
    for path in sorted(staging.landing_dir.glob("*/*.parquet")):
        target = settings.landing_dir / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        path.rename(target)
    shutil.rmtree(staging.data_dir)


@dataclass(frozen=True)
class Victim:
    run_id: str
    pid: int


@dataclass(frozen=True)
class Step:
    run_id: str
    key: str
    worker: str
    start: float
    end: float


@contextlib.contextmanager
def running_cluster(workers: int = 2):
    """A temporary cluster, the test process configured like a shell that sourced its env."""
    patch = pytest.MonkeyPatch()
    # Sensors tick every few seconds instead of every 15-30, and a model learns from 10 days
    # (2 held out) instead of 28: the loop is the same, sooner and on fewer days.
    patch.setenv("CT_SENSOR_INTERVAL_S", str(SENSOR_INTERVAL_S))
    patch.setenv("CT_WINDOW_DAYS", str(WINDOW_DAYS))
    patch.setenv("CT_HOLDOUT_DAYS", str(HOLDOUT_DAYS))
    try:
        with local.temporary(workers, webserver=False) as (cluster, env):
            for var in local.SERVICE_VARIABLES:
                patch.delenv(var, raising=False)
            for key, value in env.items():
                patch.setenv(key, value)
            harness = Harness(cluster, env)
            try:
                yield harness
            finally:
                harness.instance.dispose()
    finally:
        patch.undo()


class Harness:
    def __init__(self, cluster: Cluster, env: dict[str, str]):
        self.cluster, self.env = cluster, env
        self.settings = Settings.from_env()
        self.instance = dg.DagsterInstance.get()
        self.killed_run_id: str | None = None

    # -- waiting, with diagnostics ---------------------------------------------------------

    def wait_until(self, found: Callable, timeout_s: float, what: str, every_s: float = 2.0):
        deadline = time.monotonic() + timeout_s
        while True:
            value = found()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not reached within {timeout_s:.0f} s\n"
                                     + self.diagnostics())
            time.sleep(every_s)

    def diagnostics(self) -> str:
        runs = self.instance.get_runs()
        lines = [f"{len(runs)} runs: " + ", ".join(
            f"{s.value} {sum(r.status == s for r in runs)}"
            for s in dg.DagsterRunStatus if any(r.status == s for r in runs))]
        lines.append(self.describe_runs(runs[:15]))
        for run in runs:
            if run.status == dg.DagsterRunStatus.FAILURE:
                lines.append(f"failed {run.run_id[:8]}: {self.failure_message(run.run_id)}")
        for log in sorted(self.cluster.path("logs").glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-20:]
            lines += [f"--- {log.name}", *tail]
        return "\n".join(lines)

    def describe_runs(self, runs) -> str:
        def where(run):
            return (run.tags.get("dagster/partition")
                    or run.tags.get("dagster/asset_partition_range_start", ""))

        return "\n".join(
            f"  {r.run_id[:8]} {r.status.value:8} "
            f"{'+'.join(sorted(k.to_user_string() for k in r.asset_selection or []))} "
            f"{where(r)} {r.tags.get('ct/trigger', '')}" for r in runs)

    # -- the registry ----------------------------------------------------------------------

    def _client(self):
        import mlflow

        return mlflow.MlflowClient(self.env["MLFLOW_TRACKING_URI"])

    def champion(self) -> str | None:
        try:
            return str(self._client().get_model_version_by_alias("flight_delay",
                                                                  "champion").version)
        except Exception as exc:  # no registered model or no alias yet
            if "not found" in str(exc).lower() or "RESOURCE_DOES_NOT_EXIST" in str(exc):
                return None
            raise

    def model_versions(self) -> int:
        return len(self._client().search_model_versions("name = 'flight_delay'"))

    # -- runs ------------------------------------------------------------------------------

    def retrain_runs(self) -> list:
        """Runs the retrain sensor requested (first first), without their automatic retries."""
        runs = self.instance.get_runs(filters=dg.RunsFilter(tags={"dagster/sensor_name":
                                                                  "retrain_sensor"}))
        # (the sensor's re-scoring runs carry no retrain day)
        return sorted((r for r in runs if "dagster/parent_run_id" not in r.tags
                       and "ct/retrain_for" in r.tags), key=lambda r: r.tags["ct/retrain_for"])

    def wait_quiet(self, quiet_s: float = 3 * SENSOR_INTERVAL_S, timeout_s: float = 600) -> None:
        """Until no run is queued or in progress for `quiet_s` (three sensor ticks)."""
        busy = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.QUEUED,
                dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
        since = [time.monotonic()]

        def quiet():
            if self.instance.get_runs(filters=dg.RunsFilter(statuses=busy), limit=1):
                since[0] = time.monotonic()
            return time.monotonic() - since[0] >= quiet_s

        self.wait_until(quiet, timeout_s, f"{quiet_s:.0f} s without a run", every_s=1)

    def finished(self, run_id: str):
        """The run once it is finished and the event that says so is stored (the cluster's
        storage writes a run's status first: `RunStatusFirstEventLog`)."""
        run = self.instance.get_run_by_id(run_id)
        if run is None or not run.is_finished:
            return None
        ended = self.instance.get_records_for_run(run_id, of_type=RUN_ENDS, limit=1).records
        return run if ended else None

    def retry_of(self, run_id: str):
        runs = self.instance.get_runs(filters=dg.RunsFilter(
            tags={"dagster/parent_run_id": run_id}))
        return next((r for r in map(self.finished, (r.run_id for r in runs)) if r), None)

    def failed_on_purpose(self, run_id: str) -> bool:
        """Every failed step raised `dg.Failure` (the project's own refusal) or a blocking
        check failed, rather than an error of the infrastructure."""
        failures = list(self.instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE))
        return bool(failures) and all(
            e.dagster_event.step_failure_data.error.cls_name in ("Failure",
                                                                 "DagsterAssetCheckFailedError")
            for e in failures)

    def failure_message(self, run_id: str) -> str:
        """The run's failure events, with each failed step's error and its cause."""
        kinds = {dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.ENGINE_EVENT,
                 dg.DagsterEventType.STEP_FAILURE}
        parts = []
        for event in self.instance.all_logs(run_id, of_type=kinds):
            if event.message and ("fail" in event.message.lower()
                                  or "error" in event.message.lower()):
                parts.append(event.message)
            if event.dagster_event.event_type == dg.DagsterEventType.STEP_FAILURE:
                error = event.dagster_event.step_failure_data.error
                while error is not None:
                    parts.append(f"{error.cls_name}: {error.message.strip()[:600]}")
                    error = error.cause
        return " | ".join(parts)

    def outcome(self, run):
        """The run, or the automatic retry that replaced it once it failed."""
        while run is not None and run.status == dg.DagsterRunStatus.FAILURE:
            retry = self.retry_of(run.run_id)
            if retry is None and run.tags.get("dagster/will_retry") == "true":
                return None                  # its retry is still to come
            if retry is None:
                return run
            run = retry
        return run

    # -- workers ---------------------------------------------------------------------------

    def worker_pids(self) -> set[int]:
        import psutil

        pids = set()
        for pidfile in self.cluster.path("pids").glob("worker*.pid"):
            with contextlib.suppress(psutil.Error, ValueError):
                master = psutil.Process(int(pidfile.read_text()))
                pids |= {p.pid for p in (master, *master.children(recursive=True))
                         if p.status() != psutil.STATUS_ZOMBIE}
        return pids

    def kill_worker_in_step(self, asset: str, day: dt.date, timeout_s: float = 600) -> Victim:
        """SIGKILL the worker process executing the step of `asset` for `day` (in whichever run
        automation put it), once that step started and before it ended."""
        deadline = time.monotonic() + timeout_s
        kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS,
                 dg.DagsterEventType.STEP_FAILURE}
        while time.monotonic() < deadline:
            for run in self.instance.get_runs(limit=30):
                if dg.AssetKey(asset) not in (run.asset_selection or set()) \
                        or day.isoformat() not in self.partitions_of(run):
                    continue
                events = [e for e in self.instance.all_logs(run.run_id, of_type=kinds)
                          if e.step_key == asset]
                if len(events) == 1 and \
                        events[0].dagster_event.event_type == dg.DagsterEventType.STEP_START:
                    pid = events[0].dagster_event.pid
                    assert pid in self.worker_pids(), f"step pid {pid} is not a worker's"
                    os.kill(pid, signal.SIGKILL)
                    self.killed_run_id = run.run_id
                    return Victim(run.run_id, pid)
            time.sleep(0.1)
        raise AssertionError(f"no step of {asset} for {day} started\n" + self.diagnostics())

    @staticmethod
    def partitions_of(run) -> set[str]:
        """The day of a one-partition run, whether it is tagged as a partition (sensors) or as
        a range of one (automation's runs)."""
        tags = run.tags
        if "dagster/partition" in tags:
            return {tags["dagster/partition"]}
        start, end = (tags.get(f"dagster/asset_partition_range_{k}") for k in ("start", "end"))
        return {start} if start and start == end else set()

    def overlapping_steps(self, run_ids: set[str] | None = None
                          ) -> tuple[list[tuple[Step, Step]], list[Step]]:
        """Pairs of steps executed by different workers whose intervals overlap, and every
        step that a worker ran (by start), in the given runs (default all)."""
        from celery import Celery

        app = Celery(broker=self.env["CT_CELERY_BROKER"], backend=self.env["CT_CELERY_BACKEND"])
        steps = []
        try:
            for run in self.instance.get_runs():
                if run_ids is not None and run.run_id not in run_ids:
                    continue
                task = run.tags.get(TASK_ID_TAG)
                worker = app.AsyncResult(task).worker if task else None
                if not worker:
                    continue
                open_steps = {}
                for event in self.instance.all_logs(run.run_id, of_type={
                        dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}):
                    if event.dagster_event.event_type == dg.DagsterEventType.STEP_START:
                        open_steps[event.step_key] = event.timestamp
                    elif event.step_key in open_steps:
                        steps.append(Step(run.run_id, event.step_key, worker,
                                          open_steps.pop(event.step_key), event.timestamp))
        finally:
            app.close()
        steps.sort(key=lambda s: s.start)
        return [(a, b) for i, a in enumerate(steps) for b in steps[i + 1:]
                if b.start < a.end and a.worker != b.worker], steps

    def service_pids(self) -> set[int]:
        import psutil

        pids = set()
        roots = [int(p.read_text()) for p in self.cluster.path("pids").glob("*.pid")]
        postmaster = self.cluster.path("pg") / "postmaster.pid"
        if postmaster.exists():
            roots.append(int(postmaster.read_text().split()[0]))
        for pid in roots:
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                pids |= {pid, *(c.pid for c in proc.children(recursive=True))}
        return pids

    def postgres_sessions(self) -> tuple[int, int]:
        """Connections to the Dagster database: opened since the server started, open now."""
        with checks.postgres_connection(self.env, "postgres") as conn, conn.cursor() as cur:
            cur.execute("SELECT sessions, numbackends FROM pg_stat_database WHERE datname = %s",
                        [self.env["CT_DAGSTER_DB"]])
            return cur.fetchone()

    # -- data ------------------------------------------------------------------------------

    def landed_flights(self, day: dt.date) -> int:
        path = landing.landed_path(self.settings.landing_dir, "flights", day)
        return pq.read_metadata(path).num_rows
