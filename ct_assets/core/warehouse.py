"""The DuckDB warehouse: one table per asset, each with a `ds DATE` partition column.

A materialization replaces its partitions in one transaction: delete the day range, insert the
new rows, commit. Re-runs are idempotent and a crash in between leaves the old rows. Table and
column names come only from code (checked below); values always travel as `?` parameters.
The tables live in a DuckDB file by default, or on a server (`warehouse_backends.py`).
"""

import contextlib
import datetime as dt
import re
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from ct_assets.core import warehouse_backends as backends

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def ident(name: str) -> str:
    """Return `name` if it is a plain SQL identifier; identifiers never come from data."""
    if not _IDENT.fullmatch(name):
        raise ValueError(f"{name!r} is not a plain SQL identifier")
    return name


@contextlib.contextmanager
def connect(path: Path | str, *, read_only: bool = False,
            lock_timeout_s: float = 120.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse, waiting (with backoff) while another process holds its lock.

    `path` is a DuckDB file or a server target (`warehouse_backends.parse_target`)."""
    target = backends.parse_target(path)
    if target.kind != "duckdb":
        conn = backends.open_server(target, read_only)
        try:
            yield conn
        except (duckdb.IOException, duckdb.ConnectionException):
            backends.forget(target)
            raise
        finally:
            conn.close()
        return
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_timeout_s
    delay = 0.05
    while True:
        try:
            # No replacement scans: a missing table must be an error, not a Python variable
            # of the same name found in some caller's frame.
            conn = duckdb.connect(str(path), read_only=read_only,
                                  config={"python_enable_replacements": False})
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
    try:
        yield conn
    finally:
        conn.close()


def table_exists(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    # The warehouse's own catalog: a server's metadata catalog is attached beside it.
    return bool(conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? "
        "AND table_catalog = current_database()", [table]
    ).fetchall()[0][0])


@contextlib.contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Commit everything inside the block, or nothing."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def replace_partitions(conn: duckdb.DuckDBPyConnection, table: str,
                       rows: pd.DataFrame | pa.Table | str, start: dt.date, end: dt.date,
                       *, columns: dict[str, str] | None = None,
                       params: list | None = None) -> int:
    """Replace the rows of `table` with `ds` in [start, end) by `rows`.

    Call it inside `transaction(conn)` so the delete and the insert commit together (several
    tables may share one transaction). `rows` is a frame, an Arrow table or a SELECT run inside
    DuckDB with `params`. `columns` gives the DDL types when the table is created; without it
    the types of `rows` are used. Returns the number of rows now in the range.
    """
    table = ident(table)
    if isinstance(rows, str):
        source = f"({rows})"
    else:
        conn.register("_incoming_rows", rows)
        source, params = "_incoming_rows", None
    try:
        if not table_exists(conn, table):
            if columns:
                ddl = ", ".join(f"{ident(c)} {t}" for c, t in columns.items())
                conn.execute(f"CREATE TABLE {table} ({ddl})")
            else:
                conn.execute(f"CREATE TABLE {table} AS SELECT * FROM {source} LIMIT 0",
                             params or None)
            if _is_lake(conn):
                # A file per day: writers of different days never touch the same file, so
                # their transactions do not conflict.
                conn.execute(f"ALTER TABLE {table} SET PARTITIONED BY (ds)")
        conn.execute(f"DELETE FROM {table} WHERE ds >= ? AND ds < ?", [start, end])
        conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {source}", params or None)
        written = conn.execute(f"SELECT count(*) FROM {table} WHERE ds >= ? AND ds < ?",
                               [start, end]).fetchall()[0][0]
    finally:
        if not isinstance(rows, str):
            conn.unregister("_incoming_rows")
    return int(written)


def _is_lake(conn: duckdb.DuckDBPyConnection) -> bool:
    return conn.execute("SELECT type FROM duckdb_databases() WHERE database_name = "
                        "current_database()").fetchall()[0][0] == "ducklake"


def replace_table(conn: duckdb.DuckDBPyConnection, table: str,
                  rows: pd.DataFrame | pa.Table) -> int:
    """Replace a whole unpartitioned table (reference data) atomically."""
    table = ident(table)
    conn.register("_incoming_rows", rows)
    try:
        with transaction(conn):
            conn.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _incoming_rows")
    finally:
        conn.unregister("_incoming_rows")
    return len(rows)


def counts_by_day(conn: duckdb.DuckDBPyConnection, table: str, start: dt.date,
                  end: dt.date) -> dict[dt.date, int]:
    """Rows per `ds` in [start, end), for the days that have rows."""
    if not table_exists(conn, ident(table)):
        return {}
    result = conn.execute(
        f"SELECT ds, count(*) FROM {table} WHERE ds >= ? AND ds < ? GROUP BY ds",
        [start, end]).fetchall()
    return {day: int(n) for day, n in result}
