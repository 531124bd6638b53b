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

Configured in `ct_assets/cluster/dagster.yaml` as `storage: custom`; the data it stores are
those of `storage: postgres`. The pool bookkeeping (fork, dispose) is the embedded default's
(`ct_assets/connections.py`).
"""

from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import (
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)

from ct_assets.connections import close_with

POOL_SIZE = 2          # connections kept open per storage and process
MAX_OVERFLOW = 8       # more while threads (the daemon's, the sensors') query at once
POOL_RECYCLE_S = 3600


class PooledPostgresStorage(DagsterPostgresStorage):
    """`DagsterPostgresStorage` with a connection pool per storage (see the module)."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True,
                 inst_data: ConfigurableClassData | None = None, token_provider=None):
        super().__init__(postgres_url, should_autocreate_tables, inst_data=inst_data,
                         token_provider=token_provider)
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
