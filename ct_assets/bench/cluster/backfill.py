"""`ct bench pipeline --cluster`: the month backfill on a local cluster against the embedded
default.

The embedded default is measured exactly as `ct bench pipeline` measures it (its
`bench_scale`: SQLite instance, DuckDB file, pool `warehouse` limit 1, multiprocess executor).
The cluster run is the same plan (`plan.plan_groups` / `plan_runs`: the same runs, the
same assets, the same training config) on a temporary cluster started as `make cluster` starts
one: runs are submitted to the webserver's GraphQL API, queued, launched by the daemon onto the
Celery workers, each run executed by one worker; the DuckLake warehouse has no pool limit.
Days of a stage that do not depend on each other (validation, one run per day) are submitted
together, so the workers take them side by side; the daily train chain stays one day after
another (day D+1 is trained against the champion decided on D), as in the embedded bench.
The cluster's own sensors and schedule are stopped first, so only the bench's runs execute.

Figures: wall time of the measured month, CPU time of the cluster's processes (Postgres, Redis,
MLflow server, daemon, webserver, workers) and of the whole machine, the most steps running at
once (from the event log), which worker ran how many runs, and the row counts of both sides.
"""

import datetime as dt
import subprocess
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ct_assets.bench import reporting
from ct_assets.bench.cluster import report, training_limit
from ct_assets.bench.cluster.measure import ClusterSampler, step_intervals, workers_of
from ct_assets.bench.pipeline import analysis, data, driver, measure, plan
from ct_assets.cluster import local
from ct_assets.cluster.config import environment

SWITCHED_OFF = (("sensor", "landing_sensor"), ("sensor", "ct_automation_sensor"),
                ("sensor", "retrain_sensor"),
                ("schedule", "weekly_retrain"))


class Submitter:
    """Runs of the plan submitted through the webserver, waited for in the instance."""

    def __init__(self, env: dict[str, str], port: int, train_config: dict):
        import dagster as dg
        from dagster_graphql import DagsterGraphQLClient

        self.client = DagsterGraphQLClient("127.0.0.1", port_number=port, timeout=120)
        self.instance = dg.DagsterInstance.get()
        self.train_config = train_config
        self.run_ids: list[str] = []

    def submit(self, run: plan.RunSpec) -> str:
        config = {}
        if plan.TRAINING_ASSET in run.assets and self.train_config:
            config = {"ops": {plan.TRAINING_ASSET: {"config": self.train_config}}}
        run_id = self.client.submit_job_execution(
            "__ASSET_JOB", repository_location_name="ct_assets",
            repository_name="__repository__", run_config=config, tags=driver.run_tags(run),
            asset_selection=list(run.assets))
        self.run_ids.append(run_id)
        return run_id

    def wait(self, run_ids: list[str], timeout_s: float = 3600) -> list:
        deadline = time.monotonic() + timeout_s
        while True:
            runs = [self.instance.get_run_by_id(r) for r in run_ids]
            if all(r is not None and r.is_finished for r in runs):
                return runs
            if time.monotonic() > deadline:
                raise RuntimeError(f"runs did not finish within {timeout_s:.0f} s")
            time.sleep(0.5)


def execute_plan(submitter: Submitter, runs: list[plan.RunSpec], groups, advance) -> list:
    """Group by group in order; within a group, independent days together, the train chain
    one day at a time."""
    finished = []
    for index, group in enumerate(groups):
        these = [r for r in runs if r.group == index]
        if not these:
            continue
        together = group.mode == plan.DAY and not group.needs_model
        batches = [these] if together else [[r] for r in these]
        for batch in batches:
            done = submitter.wait([submitter.submit(r) for r in batch])
            finished += list(zip(batch, done, strict=True))
            advance(len(batch))
    return finished


def switch_off_triggers(env: dict[str, str]) -> None:
    """Stop the project's sensors and schedule in the cluster's instance."""
    procs = [subprocess.Popen([str(local.BIN / "dagster"), kind, "stop", "-w", "workspace.yaml",
                               name], env=env, cwd=local.REPO, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for kind, name in SWITCHED_OFF]
    for (kind, name), proc in zip(SWITCHED_OFF, procs, strict=True):
        _, err = proc.communicate(timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"could not stop {kind} {name}: {err.strip()[-500:]}")


def bench_cluster(plan: dict, workers: int, bar: Progress) -> dict:
    """Land, warm up and measure the month on a temporary cluster."""
    import dagster as dg

    from ct_assets.definitions import ASSETS

    groups = plan.plan_groups(ASSETS)
    warmup = [dt.date.fromisoformat(d) for d in plan["warmup_days"]]
    measured = [dt.date.fromisoformat(d) for d in plan["days"]]
    trained_from = dt.date.fromisoformat(plan["trained_from"])
    task = bar.add_task(f"starting a cluster with {workers} workers")
    with local.temporary(workers, daemon=False) as (cluster, env), \
            environment(env):
        switch_off_triggers(env)
        local.start_daemon(cluster, env)
        bar.update(task, description="landing days")
        data.land(Path(env["CT_DATA_DIR"]), warmup + measured, 1)
        submitter = Submitter(env, cluster.ports["webserver"], plan["train_config"])
        _wait_for_webserver(submitter)
        warm_runs = plan.plan_runs(groups, warmup, trained_from, with_model=False)
        bar.update(task, description=f"warm-up: {len(warmup)} days", total=len(warm_runs),
                   completed=0)
        execute_plan(submitter, warm_runs, groups, lambda n: bar.advance(task, n))
        runs = plan.plan_runs(groups, measured, trained_from, with_model=True)
        bar.update(task, description=f"cluster: backfill of {len(measured)} days",
                   total=len(runs), completed=0)
        submitter.run_ids.clear()
        machine0 = reporting.machine_busy_s()
        with ClusterSampler(cluster) as sampler:
            began = time.time()
            cpu0 = sampler.cpu_s()
            finished = execute_plan(submitter, runs, groups, lambda n: bar.advance(task, n))
            ended = time.time()
        steps = step_intervals(submitter.instance, submitter.run_ids)
        all_runs = [run for _, run in finished]
        result = {
            "wall_s": ended - began,
            "runs": len(all_runs),
            "failed_runs": [spec.label for spec, run in finished
                            if run.status != dg.DagsterRunStatus.SUCCESS],
            "steps": len(steps),
            "max_parallel_steps": analysis.max_overlap([(s["start"], s["end"]) for s in steps]),
            "cluster_cpu_s": sampler.cpu_s() - cpu0,
            "machine_cpu_s": reporting.machine_busy_s() - machine0,
            "peak_cluster_rss_mb": round(sampler.peak_mb(), 1),
            "runs_per_worker": workers_of(env, all_runs),
            "rows": driver.row_counts(measured),       # in the cluster's warehouse
            "workers": workers,
        }
        submitter.instance.dispose()
    bar.remove_task(task)
    return result


def _wait_for_webserver(submitter: Submitter, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            submitter.client._execute("{ version }")
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


# -- the command ------------------------------------------------------------------------------


def run(args, console: Console) -> int:
    plan, started = report.plan(args, console)
    if plan is None:
        return 2
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        try:
            cluster = bench_cluster(plan, args.workers, bar)
            embedded = measure.bench_scale(1, plan, bar)
            task = bar.add_task("training on one worker: peak memory at 1x, 8x, 32x rows")
            limit = training_limit.measure(args.window, args.holdout)
            bar.remove_task(task)
        except RuntimeError as exc:
            console.print(f"[red]failed:[/red] {exc}")
            return 1
    doc = {"measured_at": started, "machine": reporting.machine_info(),
           "first": plan["days"][0], "last": plan["days"][-1],
           "measured_days": len(plan["days"]), "warmup_days": len(plan["warmup_days"]),
           "start_method": plan["start_method"], "train_config": plan["train_config"],
           "note": args.note or "", "cluster": cluster, "training_limit": limit,
           "embedded": {k: embedded[k] for k in (
               "wall_s", "runs", "steps", "failed_runs", "max_parallel_steps", "cpu_s",
               "machine_cpu_s", "peak_tree_rss_mb", "rows", "split_s")}}
    report.publish(console, doc, title=f"ct bench pipeline --cluster: {doc['first']} .. "
                                       f"{doc['last']} ({doc['measured_days']} days)",
                   columns=["figure", "embedded default", "cluster", "cluster / embedded"],
                   rows=report.comparison(doc), markdown_text=report.markdown(doc),
                   out=Path(args.out), stem="cluster")
    return 0 if not cluster["failed_runs"] and not embedded["failed_runs"] else 1
