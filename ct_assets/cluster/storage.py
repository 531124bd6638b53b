"""The cluster's Dagster storage: `dagster_postgres`'s, keeping a few connections open in each
process instead of opening one for every query.

Outside its webserver, Dagster's Postgres storage uses SQLAlchemy's `NullPool`: each query
opens a connection, a Postgres backend process and a SCRAM handshake. An idle cluster (daemon,
sensors, run queue) opened 857 of them in 30 s, and Postgres alone used 16% of a core for it.
Here each of the three storages (runs, events, schedules) keeps a small pool, as Dagster's
webserver does for itself (`optimize_for_webserver`). Connections are checked before use, so a
restarted server costs a reconnect, not an error; a forked child drops the connections it
inherited (SQLAlchemy's `dispose(close=False)`) and opens its own; a disposed instance closes
its connections.

A run's new status is written before the event that reports it (`RunStatusFirstEventLog`).

Configured in `ct_assets/cluster/dagster.yaml` as `storage: custom`; the data it stores are
those of `storage: postgres`. The pool bookkeeping (fork, dispose) is the embedded default's
(`ct_assets/connections.py`).
"""

from dagster._core.events import RunFailureReason
from dagster._core.execution.retries import auto_reexecution_should_retry_run
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.tags import RUN_FAILURE_REASON_TAG, WILL_RETRY_TAG
from dagster._serdes import ConfigurableClassData
from dagster._time import datetime_from_timestamp
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from dagster_postgres.utils import (
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)

from ct_assets.connections import close_with

POOL_SIZE = 2          # connections kept open per storage and process
MAX_OVERFLOW = 8       # more while threads (the daemon's, the sensors') query at once
POOL_RECYCLE_S = 3600


class RunStatusFirstEventLog(PostgresEventLogStorage):
    """Postgres event log that writes a run's new status before the event that reports it.

    Dagster stores a run's event (its failure, say) and then, in separate statements, the run's
    new status and its `dagster/will_retry` tag. The daemon's retry consumer reads new failure
    events, then their runs: reading in between, it found a run still STARTED, did not retry
    it, and moved its cursor past the event for good (seen in CI: a run whose worker was killed
    was never retried). Here the run's row is written first, as Dagster would write it after
    the event, so whoever reads the event reads a failed run and whether it will be retried.
    """

    def __init__(self, runs: PostgresRunStorage, postgres_url: str,
                 should_autocreate_tables: bool, token_provider=None):
        super().__init__(postgres_url, should_autocreate_tables, token_provider=token_provider)
        self._runs = runs

    @property
    def handles_run_events_in_store_event(self) -> bool:
        return True                  # the instance does not update the run after the event

    def store_event(self, event) -> None:
        if event.is_dagster_event and event.get_dagster_event().is_job_event:
            self._update_run(event)
        super().store_event(event)

    def _update_run(self, event) -> None:
        dagster_event = event.get_dagster_event()
        self._runs.handle_run_event(event.run_id, dagster_event,
                                    datetime_from_timestamp(event.timestamp))
        if not (dagster_event.is_run_failure and self._instance.run_retries_enabled):
            return
        run = self._instance.get_run_by_id(event.run_id)
        if run is not None:
            reason = run.tags.get(RUN_FAILURE_REASON_TAG)
            retry = auto_reexecution_should_retry_run(
                self._instance, run, RunFailureReason(reason) if reason else None)
            self._instance.add_run_tags(event.run_id, {WILL_RETRY_TAG: str(retry).lower()})


class PooledPostgresStorage(DagsterPostgresStorage):
    """`DagsterPostgresStorage` with a connection pool per storage and its run events written
    after the run's status (see the module)."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True,
                 inst_data: ConfigurableClassData | None = None, token_provider=None):
        # DagsterPostgresStorage's own __init__, with the event log above
        self.postgres_url = postgres_url
        self.should_autocreate_tables = should_autocreate_tables
        self._inst_data = inst_data
        self._run_storage = PostgresRunStorage(postgres_url, should_autocreate_tables,
                                               token_provider=token_provider)
        self._event_log_storage = RunStatusFirstEventLog(
            self._run_storage, postgres_url, should_autocreate_tables, token_provider)
        self._schedule_storage = PostgresScheduleStorage(postgres_url, should_autocreate_tables,
                                                         token_provider=token_provider)
        DagsterStorage.__init__(self)
        for storage in (self._run_storage, self._event_log_storage, self._schedule_storage):
            engine = create_pg_engine(
                storage.postgres_url, token_provider, isolation_level="AUTOCOMMIT",
                pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW, pool_recycle=POOL_RECYCLE_S,
                pool_pre_ping=True)
            storage._engine.dispose()
            storage._engine = engine
            close_with(storage, engine)   # dropped in forked children, closed with the storage

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value):
        return cls(postgres_url=pg_url_from_config(config_value),
                   should_autocreate_tables=config_value.get("should_autocreate_tables", True),
                   inst_data=inst_data,
                   token_provider=get_token_provider_from_config(config_value))
