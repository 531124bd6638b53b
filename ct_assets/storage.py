"""The embedded default's Dagster storage (SQLite under `$DAGSTER_HOME`): Dagster's own, with
each database's engine and connection kept for the life of the storage instead of a new engine
and a new connection for every query.

Dagster's SQLite storages create an SQLAlchemy engine per query (`NullPool`). Creating it and
connecting cost about 0.7 ms of CPU more than reusing an open connection (0.5 ms of it the
engine), and a run of the train chain makes about 330 such queries (its events, its run
record, the asset records it reads). The daemon's loops pay it too. Closing the last
connection of a database also checkpoints its write-ahead log into the file, for every event
a run writes.

The data and files are those of Dagster's `storage: sqlite` (the same base directory); only the
way connections are made changes. Each database keeps one connection per process (more,
briefly, while threads query at once; SQLite serialises the writers as before, with the same
busy timeout). The UI follows a running run by watching its database file, which Dagster's
storage changes by checkpointing on every close: this one touches the file once an event is
committed (see `PooledSqliteEventLogStorage`). A forked child drops the connections it
inherited and opens its own; a disposed or collected storage closes its connections; the
event log keeps the connections of the few run databases used last.

The pool bookkeeping (fork, dispose) is `ct_assets/connections.py`, shared with the cluster's
Postgres storage.

Configured in `ct_assets/dagster.yaml` as the instance class (`PooledSqliteInstance`), which is
how Dagster lets a default storage relative to the instance's directory be replaced: `storage:`
takes only an absolute path or an environment variable, and `ct` opens the instance by its
directory, with or without `DAGSTER_HOME` set.
"""

import contextlib
import os
import secrets
import sqlite3
import tempfile
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator

import yaml
from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS, create_db_conn_string
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from dagster._serdes import ConfigurableClassData
from sqlalchemy.pool import NullPool

from ct_assets.connections import track, transaction

MAX_OVERFLOW = 8          # connections beyond the kept one while threads query at once
RUN_SHARDS_KEPT = 8       # run databases of the event log whose connections are kept

_EMPTY_RUN_DATABASE: bytes | None = None   # an empty run database, as Dagster makes one
EMPTY_RUN_DATABASE_NAME = "ct-empty-run"   # its file's name (without .db) while it is made


def _sqlite_engine(conn_string: str, **connect_args):
    return track(create_engine(conn_string, pool_size=1, max_overflow=MAX_OVERFLOW,
                               connect_args=connect_args))


def _stamped(path: str, tables: tuple[str, ...]) -> bool:
    """Whether the SQLite file at `path` is as Dagster leaves a database it has set up: its
    `tables` there and an Alembic revision recorded."""
    if not os.path.exists(path):
        return False
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)) as conn:
            names = {name for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"alembic_version", *tables} <= names:
                return False
            return conn.execute("SELECT version_num FROM alembic_version").fetchone() is not None
    except sqlite3.Error:
        return False


class _KeptConnection:
    """For Dagster's SQLite run and schedule storages (one database each): the database's
    engine and connection kept for the life of the storage. `DagsterInstance.dispose` does not
    dispose the schedule storage: its connection closes when the storage is collected."""

    DB_NAME: str                  # the database's file name, without `.db`
    TABLES: tuple[str, ...]       # what Dagster's `from_local` makes sure exist

    @classmethod
    def from_local(cls, base_dir: str, inst_data=None):
        # Dagster's loads every migration script (for the head revision) and then, for a
        # database it has stamped before, does nothing: about 25 ms of every process that opens
        # the instance, each run's among them. An unstamped one gets Dagster's treatment.
        if _stamped(os.path.join(base_dir, f"{cls.DB_NAME}.db"), cls.TABLES):
            return cls(create_db_conn_string(base_dir, cls.DB_NAME), inst_data)
        return super().from_local(base_dir, inst_data)

    def __init__(self, conn_string: str, inst_data=None):
        super().__init__(conn_string, inst_data)
        self._engine = _sqlite_engine(conn_string)
        weakref.finalize(self, self._engine.dispose)

    def connect(self):
        return transaction(self._engine)

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()


class PooledSqliteRunStorage(_KeptConnection, SqliteRunStorage):
    DB_NAME, TABLES = "runs", ("runs", "instance_info")


class PooledSqliteScheduleStorage(_KeptConnection, SqliteScheduleStorage):
    DB_NAME, TABLES = "schedules", ("jobs", "job_ticks")


class _Engines:
    """The engines (each with its kept connection) of the event log's run databases, by run;
    beyond `RUN_SHARDS_KEPT`, the least recently used is closed."""

    def __init__(self, keep: int):
        self._keep = keep
        self._by_shard: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, shard: str, conn_string: str):
        with self._lock:
            engine = self._by_shard.pop(shard, None) or _sqlite_engine(
                conn_string, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
            self._by_shard[shard] = engine
            while len(self._by_shard) > self._keep:
                self._by_shard.popitem(last=False)[1].dispose()
            return engine

    def close(self) -> None:
        with self._lock:
            for engine in self._by_shard.values():
                engine.dispose()
            self._by_shard.clear()


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """The index and the run databases keep their connections. The UI follows a running run by
    watching that run's database file (inotify, or its modification time), which Dagster's
    storage changes when the last connection closes and SQLite checkpoints the write-ahead
    log: with the connection kept the file would stay untouched, so each stored event touches
    it, after its commit (an event is readable before the watcher hears of it; watching the
    `-wal` file instead would not be: it changes before the commit is visible)."""

    def __init__(self, base_dir: str, inst_data=None):
        # before Dagster's __init__, which may build the index through `_connect`
        self._index_engine = _sqlite_engine(
            create_db_conn_string(os.path.abspath(base_dir), INDEX_SHARD_NAME),
            timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
        self._run_engines = _Engines(RUN_SHARDS_KEPT)
        self._tables: set[str] = set()
        super().__init__(base_dir, inst_data)
        weakref.finalize(self, _close_all, self._index_engine, self._run_engines)

    @contextlib.contextmanager
    def _connect(self, shard: str) -> Iterator:
        # Dagster's `_connect`, with the shard's engine kept (its lock serialises the threads
        # of this storage, as there)
        with self._db_lock:
            engine = (self._index_engine if shard == INDEX_SHARD_NAME
                      else self._run_engines.get(shard, self.conn_string_for_shard(shard)))
            if shard not in self._initialized_dbs:
                if shard != INDEX_SHARD_NAME:
                    self._create_run_database(shard)
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with transaction(engine) as conn:
                yield conn

    def _initdb(self, engine, for_index_shard: bool = False) -> None:
        # Dagster's loads every migration script (for the head revision) before it finds the
        # database stamped, in each process's first query of each database (about 20 ms of a
        # run); a stamped database needs nothing, an unstamped one gets Dagster's treatment
        if not _stamped(engine.url.database, ()):
            super()._initdb(engine, for_index_shard)

    def _create_run_database(self, shard: str) -> None:
        """A new run's database is a copy of an empty one Dagster made (its tables, write-ahead
        log mode, stamped at the head revision): creating the tables and stamping them with
        Alembic, which loads every migration script, cost about 40 ms of the process that
        writes a run's first event (the daemon, as it creates the run), for every run."""
        path = self.path_for_shard(shard)
        if os.path.exists(path):
            return
        # a name of its own (two storages of a process may make the same run's at once), and
        # SQLite's own mode for a new database file
        new = os.path.join(os.path.dirname(path), f".{shard}.{secrets.token_hex(8)}.new")
        try:
            with os.fdopen(os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644),
                           "wb") as out:
                out.write(self._empty_run_database())
            os.link(new, path)         # whole or not at all
        except OSError:
            pass    # made first by another process, or no hard links here: Dagster's makes it
        finally:
            with contextlib.suppress(OSError):
                os.unlink(new)

    def _empty_run_database(self) -> bytes:
        global _EMPTY_RUN_DATABASE
        if _EMPTY_RUN_DATABASE is None:
            with tempfile.TemporaryDirectory(prefix="ct-run-db-") as tmp:
                path = os.path.join(tmp, f"{EMPTY_RUN_DATABASE_NAME}.db")
                engine = create_engine(create_db_conn_string(tmp, EMPTY_RUN_DATABASE_NAME),
                                       poolclass=NullPool)
                try:
                    super()._initdb(engine)             # Dagster's own, on an empty file
                finally:
                    engine.dispose()                    # the write-ahead log checkpointed
                with open(path, "rb") as made:
                    _EMPTY_RUN_DATABASE = made.read()
        return _EMPTY_RUN_DATABASE

    def has_table(self, table_name: str) -> bool:
        # Dagster's creates an engine on the index for each call (every asset event asks); a
        # table seen stays (only a migration adds one)
        if table_name not in self._tables:
            with self._index_engine.connect() as conn:
                if not self._index_engine.dialect.has_table(conn, table_name):
                    return False
            self._tables.add(table_name)
        return True

    def store_event(self, event) -> None:
        super().store_event(event)
        if event.run_id:
            with contextlib.suppress(OSError):     # a wiped or deleted run: nobody watches
                os.utime(self.path_for_shard(event.run_id))

    def wipe(self) -> None:
        with self._db_lock:
            self._run_engines.close()     # before the run databases' files go
            self._tables.clear()
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        _close_all(self._index_engine, self._run_engines)


def _close_all(index_engine, run_engines: _Engines) -> None:
    index_engine.dispose()
    run_engines.close()


class PooledSqliteStorage(DagsterSqliteStorage):
    """`DagsterSqliteStorage` whose three storages keep their connections (see the module)."""

    def __init__(self, base_dir: str, inst_data=None):
        self.base_dir = base_dir
        self._run_storage = PooledSqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = PooledSqliteScheduleStorage.from_local(
            _schedule_directory(base_dir))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls.from_local(inst_data=inst_data, **config_value)


class PooledSqliteInstance(DagsterInstance):
    """Dagster's instance, its default storage being `PooledSqliteStorage` under its directory
    and its default compute logs `TeeComputeLogManager` (`ct_assets/compute_logs.py`: the same
    files, without four processes per run); the rest of its defaults and of dagster.yaml
    unchanged."""

    @classmethod
    def config_schema(cls) -> dict:
        return {}                      # no settings of its own

    @staticmethod
    def config_defaults(base_dir: str) -> dict:
        defaults = dict(InstanceRef.config_defaults(base_dir))
        defaults["storage"] = ConfigurableClassData(
            __name__, PooledSqliteStorage.__name__,
            yaml.dump({"base_dir": base_dir}, default_flow_style=False))
        compute_logs = defaults["compute_logs"]
        defaults["compute_logs"] = ConfigurableClassData(
            "ct_assets.compute_logs", "TeeComputeLogManager", compute_logs.config_yaml)
        return defaults
