"""Where the warehouse lives. DuckDB computes in every case; the target says where the tables are.

- a file path (the default, `<CT_DATA_DIR>/warehouse.duckdb`): one writer process at a time, so
  the assets share the pool `warehouse` with limit 1.
- `ducklake+postgresql://USER@HOST:PORT/DB?data_path=/shared/lake/`: DuckLake, its catalog in
  Postgres and its data as Parquet files under `data_path` (storage every worker reaches).
  Writers on many machines commit concurrently; two transactions that replace the same day of
  the same table conflict and the second fails cleanly (nothing of it is committed).
- `postgresql://USER@HOST:PORT/DB`: the tables in Postgres, read and written through DuckDB's
  postgres extension.

A target never holds a password: libpq (inside the DuckDB extension) reads `PGPASSWORD` or
`PGPASSFILE`, like every other client of the cluster. Extensions come from the
`duckdb-ext-ducklake` / `duckdb-ext-postgres` wheels; nothing is downloaded at run time.
"""

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import duckdb

from ct_assets.core.errors import ServiceError

LAKE_SCHEMES = ("ducklake+postgresql", "ducklake+postgres")
POSTGRES_SCHEMES = ("postgresql", "postgres")
CATALOG = "wh"
# Values that go into an ATTACH string (which takes no `?` parameters) come from configuration,
# never from data; they are still held to plain characters.
_PLAIN = re.compile(r"[A-Za-z0-9_.\-]+")
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_.\-/~+=:@]+")


class WarehouseUnavailable(ServiceError):
    """The warehouse's server cannot be reached or refused the connection."""


@dataclass(frozen=True)
class Target:
    kind: str                      # "duckdb", "ducklake" or "postgres"
    path: str = ""                 # the DuckDB file (kind duckdb)
    host: str = ""
    port: int = 5432
    user: str = ""
    database: str = ""
    data_path: str = ""            # DuckLake's Parquet folder (kind ducklake)

    @property
    def address(self) -> str:
        """Where it is, for messages (never with a password)."""
        if self.kind == "duckdb":
            return self.path
        return f"{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def label(self) -> str:
        return {"duckdb": "DuckDB file", "ducklake": "DuckLake catalog on Postgres",
                "postgres": "Postgres warehouse"}[self.kind]

    @property
    def conninfo(self) -> str:
        return f"dbname={self.database} host={self.host} port={self.port} user={self.user}"

    @property
    def concurrent_writers(self) -> bool:
        return self.kind != "duckdb"


def parse_target(target: str | Path) -> Target:
    """A warehouse target from configuration (see the module docstring)."""
    text = str(target)
    scheme = text.split("://", 1)[0] if "://" in text else ""
    if scheme in ("", "duckdb"):
        return Target("duckdb", path=text.split("://", 1)[-1] if scheme else text)
    if scheme not in LAKE_SCHEMES + POSTGRES_SCHEMES:
        raise ServiceError(f"warehouse target {text!r}: unknown scheme {scheme!r} (a DuckDB "
                           f"file path, ducklake+postgresql://… or postgresql://…)")
    url = urlsplit(text)
    if url.password:
        raise ServiceError("warehouse target: put no password in it; set PGPASSWORD or "
                           "PGPASSFILE (libpq reads them)")
    query = parse_qs(url.query)
    parts = {"host": url.hostname or "127.0.0.1", "user": unquote(url.username or ""),
             "database": url.path.lstrip("/")}
    for name, value in parts.items():
        if not _PLAIN.fullmatch(value):
            raise ServiceError(f"warehouse target: {name} {value!r} is missing or not plain")
    kind = "ducklake" if scheme in LAKE_SCHEMES else "postgres"
    data_path = query.get("data_path", [""])[0]
    if kind == "ducklake" and not _PLAIN_PATH.fullmatch(data_path):
        raise ServiceError(f"warehouse target: DuckLake needs ?data_path=<shared folder>, got "
                           f"{data_path!r}")
    if kind == "ducklake" and "://" not in data_path and not data_path.endswith("/"):
        data_path += "/"
    return Target(kind, host=parts["host"], port=url.port or 5432, user=parts["user"],
                  database=parts["database"], data_path=data_path)


def extension_directory() -> str:
    """The folder of the pip-installed DuckDB extensions (duckdb-ext-* wheels)."""
    try:
        import duckdb_ext
    except ImportError as exc:
        raise ServiceError("the cluster warehouse needs the DuckDB extensions: install the "
                           "`cluster` extra (pip install -e '.[cluster]')") from exc
    return str(Path(next(iter(duckdb_ext.__path__))) / "extensions")


# One attached database per process and target: attaching costs ~0.5 s (extension load and the
# catalog round trips), and each `connect()` then opens a cheap cursor on it. Keyed by pid, so a
# forked worker never reuses its parent's connection.
_ATTACHED: dict[tuple[int, str, bool], duckdb.DuckDBPyConnection] = {}
_LOCK = threading.Lock()


def _attach(target: Target, read_only: bool) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(config={
        "autoinstall_known_extensions": False, "autoload_known_extensions": False,
        "extension_directory": extension_directory(), "python_enable_replacements": False})
    try:
        conn.execute("LOAD postgres")
        options = ["READ_ONLY"] if read_only else []
        if target.kind == "ducklake":
            conn.execute("LOAD ducklake")
            options.append(f"DATA_PATH '{target.data_path}'")
            source = f"ducklake:postgres:{target.conninfo}"
        else:
            options.append("TYPE postgres")
            source = target.conninfo
        conn.execute(f"ATTACH '{source}' AS {CATALOG} ({', '.join(options)})")
    except duckdb.Error as exc:
        conn.close()
        raise WarehouseUnavailable(
            f"warehouse ({target.label} at {target.address}) unavailable: "
            f"{_postgres_reason(exc)}") from exc
    return conn


def _postgres_reason(exc: BaseException) -> str:
    text = str(exc)
    for pattern in (r"failed: (FATAL: .*?)(?:\n|$)", r"failed: (.*?)(?:\n|$)"):
        found = re.search(pattern, text)
        if found:
            return re.sub(r"\s+", " ", found.group(1)).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def open_server(target: Target, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A connection (a cursor on this process's attached database) whose default catalog is
    the warehouse: unqualified names, temp tables and `information_schema` work as on a file."""
    key = (os.getpid(), f"{target}", read_only)
    for attempt in (1, 2):
        with _LOCK:
            base = _ATTACHED.get(key)
            if base is None:
                base = _ATTACHED[key] = _attach(target, read_only)
        conn = base.cursor()
        try:
            conn.execute(f"USE {CATALOG}")
            return conn
        except duckdb.Error as exc:
            # The server went away since the attach: attach again once.
            conn.close()
            forget(target)
            if attempt == 2:
                raise WarehouseUnavailable(
                    f"warehouse ({target.label} at {target.address}) unavailable: "
                    f"{_postgres_reason(exc)}") from exc
    raise AssertionError("unreachable")


def forget(target: Target) -> None:
    """Drop this process's attached connections to `target` (after a connection error)."""
    with _LOCK:
        for key in [k for k in _ATTACHED if k[0] == os.getpid() and k[1] == f"{target}"]:
            _ATTACHED.pop(key).close()
