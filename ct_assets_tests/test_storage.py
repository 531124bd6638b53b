"""The embedded default's Dagster storage (`ct_assets/storage.py`): Dagster's SQLite files,
with each database's connection kept open in a process instead of opened for every query."""

import os
import shutil
import sqlite3
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy
from sqlalchemy import event

from ct_assets.storage import EMPTY_RUN_DATABASE_NAME, PooledSqliteStorage

PROJECT_YAML = Path(__file__).resolve().parents[1] / "ct_assets" / "dagster.yaml"


@dg.asset
def upstream() -> int:
    return 1


@dg.asset
def downstream(upstream: int) -> int:
    return upstream + 1


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A DAGSTER_HOME with the project's dagster.yaml."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    shutil.copyfile(PROJECT_YAML, tmp_path / "dagster.yaml")
    return tmp_path


@pytest.fixture
def connects():
    """How many DB-API connections SQLAlchemy opens, per database file."""
    opened: dict[str, int] = {}

    def count(dbapi_connection, record):
        path = dbapi_connection.execute("PRAGMA database_list").fetchone()[2]
        opened[Path(path).name] = opened.get(Path(path).name, 0) + 1

    event.listen(sqlalchemy.engine.Engine, "connect", count)
    yield opened
    event.remove(sqlalchemy.engine.Engine, "connect", count)


def _three_runs_and_100_reads(instance) -> None:
    for _ in range(3):
        assert dg.materialize([upstream, downstream], instance=instance).success
    for _ in range(50):
        instance.get_runs(limit=5)
        instance.get_latest_materialization_event(dg.AssetKey("downstream"))


def test_the_project_instance_keeps_its_connections_open_between_queries(
        home, tmp_path_factory, monkeypatch, connects):
    with dg.DagsterInstance.get() as instance:
        assert instance.get_ref().storage_data.class_name == PooledSqliteStorage.__name__
        connects.clear()
        _three_runs_and_100_reads(instance)
    pooled = dict(connects)
    # the same with Dagster's own SQLite storage (no `storage:` in dagster.yaml)
    plain_home = tmp_path_factory.mktemp("plain_home")
    monkeypatch.setenv("DAGSTER_HOME", str(plain_home))
    with dg.DagsterInstance.get() as instance:
        connects.clear()
        _three_runs_and_100_reads(instance)
    plain = dict(connects)
    # about 70 events written and 100 reads: Dagster's opens a connection per query (over 500
    # here, 20 or more for each run's own database); every database keeps its own
    assert pooled.get("runs.db", 0) <= 1 and plain["runs.db"] >= 100, (pooled, plain)
    assert pooled["index.db"] * 20 < plain["index.db"], (pooled, plain)
    def per_run(opened):      # (the empty run database copied for new runs is made once)
        return [n for name, n in opened.items()
                if name not in ("runs.db", "index.db", f"{EMPTY_RUN_DATABASE_NAME}.db")]

    assert len(per_run(pooled)) == 3 and max(per_run(pooled)) <= 2, pooled
    assert min(per_run(plain)) >= 20, plain
    assert sum(pooled.values()) * 5 < sum(plain.values()), (pooled, plain)


def test_its_files_are_dagsters_default_ones(home):
    with dg.DagsterInstance.get() as instance:
        run_id = dg.materialize([upstream, downstream], instance=instance).run_id
    assert (home / "history" / "runs.db").exists()
    assert (home / "history" / "runs" / f"{run_id}.db").exists()
    assert (home / "schedules" / "schedules.db").exists()
    # each database stamped at the head of Dagster's migrations, as Dagster's storage stamps it
    from dagster._core.storage.event_log.sqlite import sqlite_event_log
    from dagster._core.storage.sql import check_alembic_revision, get_alembic_config

    config = get_alembic_config(sqlite_event_log.__file__)
    for shard in (home / "history" / "runs" / name for name in (f"{run_id}.db", "index.db")):
        with sqlalchemy.create_engine(f"sqlite:///{shard}").connect() as conn:
            stamped, head = check_alembic_revision(config, conn)
        assert stamped == head is not None, shard
    # an instance with Dagster's own storage (no `storage:` in dagster.yaml) reads them
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.get() as plain:
        assert plain.get_ref().storage_data.class_name == "DagsterSqliteStorage"
        assert plain.get_run_by_id(run_id).is_success
        latest = plain.get_latest_materialization_event(dg.AssetKey("downstream"))
        assert latest is not None and latest.run_id == run_id


def test_a_forked_child_opens_its_own_connections_and_a_disposed_instance_closes_them(home):
    with dg.DagsterInstance.get() as instance:
        first = dg.materialize([upstream], instance=instance).run_id
        engine = instance._run_storage._engine
        assert engine.pool.checkedin() == 1                 # kept open between queries
        pid = os.fork()
        if pid == 0:                                        # the child: its own connections
            try:
                ok = (instance.get_run_by_id(first).is_success
                      and dg.materialize([upstream], instance=instance).success)
            finally:
                os._exit(0 if ok else 1)
        assert os.waitpid(pid, 0)[1] == 0
        assert len(instance.get_runs()) == 2                 # the parent's still work
    assert engine.pool.checkedin() == 0                      # closed with the instance


def test_an_instance_opened_by_its_directory_needs_no_dagster_home(home, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME")                      # as `ct` opens it
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_ref().storage_data.class_name == PooledSqliteStorage.__name__
        assert type(instance.run_launcher).__name__ == "ForkserverRunLauncher"
        assert dg.materialize([upstream], instance=instance).success
    assert len(list((home / "history" / "runs").glob("*.db"))) == 2   # the run's and the index


def test_a_wiped_event_log_takes_new_runs(home):
    with dg.DagsterInstance.get() as instance:
        dg.materialize([upstream], instance=instance)
        instance.wipe()
        assert instance.get_latest_materialization_event(dg.AssetKey("upstream")) is None
        run_id = dg.materialize([upstream], instance=instance).run_id
        assert instance.get_latest_materialization_event(
            dg.AssetKey("upstream")).run_id == run_id


def test_the_ui_follows_a_running_run_written_by_another_instance(home):
    # The UI follows a running run by watching the run's database file. Dagster's storage
    # changes it by checkpointing the write-ahead log whenever the last connection closes;
    # with the writer's and the watcher's connections kept open, the stored event must still
    # reach the watcher (each one touches the file after its commit).
    import threading

    with dg.DagsterInstance.get() as writer, dg.DagsterInstance.get() as watcher:
        run_id = dg.materialize([upstream], instance=writer).run_id
        run = writer.get_run_by_id(run_id)
        seen, arrived = [], threading.Event()

        def callback(entry, cursor):
            seen.append(entry.message)
            if "still working" in (entry.message or ""):
                arrived.set()

        last = watcher.get_records_for_run(run_id).cursor
        watcher.watch_event_logs(run_id, last, callback)
        try:
            writer.report_engine_event("still working", run)
            assert arrived.wait(timeout=10), seen
        finally:
            watcher.end_watch_event_logs(run_id, callback)


def _schema(path: Path) -> tuple:
    with sqlite3.connect(path) as conn:
        return (conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master "
                             "ORDER BY type, name").fetchall(),
                conn.execute("PRAGMA journal_mode").fetchone(),
                conn.execute("SELECT version_num FROM alembic_version").fetchall())


def test_a_runs_database_is_made_as_dagster_makes_it_and_reopening_reads_no_migration(
        home, tmp_path_factory, monkeypatch):
    with dg.DagsterInstance.get() as instance:
        first = dg.materialize([upstream, downstream], instance=instance).run_id
    ours = home / "history" / "runs" / f"{first}.db"
    plain_home = tmp_path_factory.mktemp("plain_home")
    monkeypatch.setenv("DAGSTER_HOME", str(plain_home))
    with dg.DagsterInstance.get() as plain:
        theirs = plain_home / "history" / "runs" / (
            dg.materialize([upstream, downstream], instance=plain).run_id + ".db")
    # a copy of an empty one Dagster made: the same tables, indexes, log mode and revision
    assert _schema(ours) == _schema(theirs)
    assert not [p.name for p in ours.parent.iterdir() if p.name.endswith(".new")]

    # an instance opened again (each run process opens it) and its next run's database
    # read none of Dagster's migration scripts: the databases are stamped already
    def no_scripts(*args, **kwargs):
        raise AssertionError("a migration script directory was read")

    monkeypatch.setattr("alembic.script.ScriptDirectory.from_config", no_scripts)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        second = dg.materialize([upstream, downstream], instance=instance)
        assert second.success
        assert len(instance.get_runs()) == 2
    assert _schema(home / "history" / "runs" / f"{second.run_id}.db") == _schema(theirs)


def test_without_hard_links_a_run_database_is_made_by_dagster_with_sqlites_mode(
        home, monkeypatch):
    with dg.DagsterInstance.get() as instance:
        made = dg.materialize([upstream], instance=instance).run_id
    runs = home / "history" / "runs"
    # a copied database gets the mode SQLite gives the databases it creates
    assert (runs / f"{made}.db").stat().st_mode == (runs / "index.db").stat().st_mode

    def no_links(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)     # a filesystem without hard links
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize([upstream, downstream], instance=instance)
        assert result.success and instance.get_run_by_id(result.run_id).is_success
    assert _schema(runs / f"{result.run_id}.db")[2] == _schema(runs / f"{made}.db")[2]
    assert not [p.name for p in runs.iterdir() if p.name.endswith(".new")]
