"""What `ct bench pipeline --cluster` reads from a running cluster: the CPU time of its
processes, the steps' intervals in the event log, which worker ran each run."""

import contextlib
import threading
import time

from ct_assets.bench.pipeline import measure as pipeline_measure

TASK_ID_TAG = "dagster-celery/task_id"


class ClusterSampler:
    """CPU time of every process of the cluster (the service trees), sampled in a thread."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.samplers: dict[int, pipeline_measure.TreeSampler] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def roots(self) -> list[int]:
        pids = [int(p.read_text()) for p in self.cluster.path("pids").glob("*.pid")]
        postmaster = self.cluster.path("pg") / "postmaster.pid"
        if postmaster.exists():
            pids.append(int(postmaster.read_text().split()[0]))
        return pids

    def sample(self) -> None:
        for pid in self.roots():
            if pid not in self.samplers:
                with contextlib.suppress(Exception):
                    self.samplers[pid] = pipeline_measure.TreeSampler(pid)
            if pid in self.samplers:
                self.samplers[pid].sample()

    def cpu_s(self) -> float:
        return sum(s.cpu_s for s in self.samplers.values())

    def peak_mb(self) -> float:
        return sum(s.peak_total for s in self.samplers.values()) / 2**20

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(pipeline_measure.SAMPLE_INTERVAL_S)

    def __enter__(self):
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.sample()


def step_intervals(instance, run_ids: list[str]) -> list[dict]:
    import dagster as dg

    out = []
    for run_id in run_ids:
        opened = {}
        for entry in instance.all_logs(run_id, of_type={
                dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS,
                dg.DagsterEventType.STEP_FAILURE}):
            if entry.dagster_event.event_type == dg.DagsterEventType.STEP_START:
                opened[entry.step_key] = entry.timestamp
            elif entry.step_key in opened:
                out.append({"run_id": run_id, "asset": entry.step_key,
                            "start": opened.pop(entry.step_key), "end": entry.timestamp})
    return out


def workers_of(env: dict[str, str], runs) -> dict[str, int]:
    from celery import Celery

    app = Celery(broker=env["CT_CELERY_BROKER"], backend=env["CT_CELERY_BACKEND"])
    counts: dict[str, int] = {}
    try:
        for run in runs:
            task = run.tags.get(TASK_ID_TAG)
            worker = (app.AsyncResult(task).worker if task else None) or "unknown"
            counts[worker] = counts.get(worker, 0) + 1
    finally:
        app.close()
    return counts
