"""Typed resources: the warehouse (DuckDB), the profile store and the landing folder.

Each is a thin, configurable handle over the plain functions in `core/`; the paths default to
`CT_DATA_DIR` (see `settings.py`) and can be overridden per run or per test.
"""

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb

from ct_assets.core import landing, profiles, warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse: a DuckDB file, or a DuckLake / Postgres target (`path`, see
    `core/warehouse_backends.py`). Every asset that opens it runs in the `warehouse` pool."""

    path: str
    lock_timeout_s: float = 120.0

    @contextlib.contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(self.path, read_only=read_only,
                               lock_timeout_s=self.lock_timeout_s) as conn:
            yield conn


class ProfileStoreResource(dg.ConfigurableResource):
    """Daily whylogs profiles under `<root>/<name>/<YYYY-MM-DD>.bin`."""

    root: str

    def write(self, name: str, day: dt.date, view) -> Path:
        return profiles.write_profile(Path(self.root), name, day, view)

    def read(self, name: str, day: dt.date):
        return profiles.read_profile(Path(self.root), name, day)

    def merge_window(self, name: str, start: dt.date, end: dt.date) -> profiles.WindowProfile:
        return profiles.merge_window(Path(self.root), name, start, end)


class LandingResource(dg.ConfigurableResource):
    """The landing folder, read-only for the pipeline."""

    root: str

    def path(self, table: str, day: dt.date | str) -> Path:
        return landing.landed_path(Path(self.root), table, day)
