"""The cluster's Dagster storage on a Postgres of its own (no daemon, workers or broker): what a
reader of the event log sees of a run at the moment its failure event appears."""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.tags import WILL_RETRY_TAG
from dagster._daemon.auto_run_reexecution.auto_run_reexecution import should_retry
from dagster_postgres.event_log import PostgresEventLogStorage

from ct_assets.cluster.config import Cluster
from ct_assets.cluster.local import SERVICE_VARIABLES
from ct_assets.cluster.postgres import create_databases, start_postgres, stop_postgres


@pytest.fixture(scope="module")
def postgres_env():
    root = Path(tempfile.mkdtemp(prefix="ct-pg-"))
    root.chmod(0o755)                    # the postgres user reaches its data folder
    cluster = Cluster.load(root / "cluster", workers=0)
    env = cluster.env({k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES})
    try:
        start_postgres(cluster)
        create_databases(env)
        yield env
    finally:
        stop_postgres(cluster)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def instance_on(env: dict[str, str], storage_class: str):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PGPASSFILE", env["PGPASSFILE"])
        db = {"hostname": env["CT_PG_HOST"], "port": int(env["CT_PG_PORT"]),
              "username": env["CT_PG_USER"], "db_name": env["CT_DAGSTER_DB"],
              "scheme": "postgresql+psycopg2"}
        storage = ({"postgres": {"postgres_db": db}} if storage_class == "dagster_postgres"
                   else {"custom": {"module": "ct_assets.cluster.storage",
                                    "class": storage_class, "config": {"postgres_db": db}}})
        with dg.instance_for_test(overrides={
                "storage": storage, "run_retries": {"enabled": True, "max_retries": 1}}) as inst:
            yield inst


def fail_a_run_and_read_it_as_its_failure_event_is_stored(instance, patch):
    """Fail a started run as run monitoring does when its worker dies; return the run as the
    daemon's retry consumer would read it just as the failure event becomes visible, whether
    the consumer would retry it then, and the run once everything is written."""
    run = instance.add_run(dg.DagsterRun(job_name="loop", status=dg.DagsterRunStatus.STARTED))
    seen = []
    store = PostgresEventLogStorage.store_event

    def store_and_read(self, event):
        store(self, event)
        if event.is_dagster_event and event.dagster_event_type == dg.DagsterEventType.RUN_FAILURE:
            read = instance.get_run_by_id(event.run_id)
            seen.append((read, should_retry(read, instance)))

    patch.setattr(PostgresEventLogStorage, "store_event", store_and_read)
    instance.report_run_failed(run, "the Celery worker running this run failed: signal 9")
    patch.undo()
    assert len(seen) == 1
    return (*seen[0], instance.get_run_by_id(run.run_id))


def test_a_failed_run_is_failed_and_tagged_for_its_retry_before_its_failure_event(
        postgres_env, monkeypatch):
    with instance_on(postgres_env, "PooledPostgresStorage") as instance:
        read, retried, final = fail_a_run_and_read_it_as_its_failure_event_is_stored(
            instance, monkeypatch)
        assert read.status == dg.DagsterRunStatus.FAILURE
        assert read.tags.get(WILL_RETRY_TAG) == "true"
        assert retried
        assert final.status == dg.DagsterRunStatus.FAILURE
        assert final.tags[WILL_RETRY_TAG] == "true"
        failures = instance.all_logs(final.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        assert [e.message for e in failures] == [
            "the Celery worker running this run failed: signal 9"]


def test_dagsters_own_postgres_storage_shows_the_failure_event_of_a_run_still_started(
        postgres_env, monkeypatch):
    """Why the storage above exists: with Dagster's order a consumer reading at that moment
    finds the run STARTED and does not retry it, and its cursor has moved past the event. If
    this stops holding, Dagster fixed it and `RunStatusFirstEventLog` can go."""
    with instance_on(postgres_env, "dagster_postgres") as instance:
        read, retried, final = fail_a_run_and_read_it_as_its_failure_event_is_stored(
            instance, monkeypatch)
        assert read.status == dg.DagsterRunStatus.STARTED and not retried
        assert final.status == dg.DagsterRunStatus.FAILURE
        assert final.tags[WILL_RETRY_TAG] == "true"       # too late for that consumer
