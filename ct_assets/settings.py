"""Where state lives and which days exist, read from the environment when definitions load.

- `CT_DATA_DIR` (default `./data`): landing files, warehouse, profiles, Dagster home.
- `CT_PARTITIONS_START` / `CT_PARTITIONS_END` (default 2013-01-01 / 2014-01-01): the daily
  partitions, end exclusive.
- `CT_WAREHOUSE` (default the DuckDB file `<CT_DATA_DIR>/warehouse.duckdb`): a DuckLake or
  Postgres target instead (`core/warehouse_backends.py`).
- `CT_SENSOR_INTERVAL_S` (default unset: each sensor's own interval): every sensor ticks at
  most this often (tests and demos of the whole loop).
"""

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from ct_assets.core.days import parse_day


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    start: dt.date = dt.date(2013, 1, 1)
    end: dt.date = dt.date(2014, 1, 1)
    warehouse_target: str = ""
    sensor_interval_s: int = 0

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            data_dir=Path(os.environ.get("CT_DATA_DIR", "data")).resolve(),
            start=parse_day(os.environ.get("CT_PARTITIONS_START", "2013-01-01")),
            end=parse_day(os.environ.get("CT_PARTITIONS_END", "2014-01-01")),
            warehouse_target=os.environ.get("CT_WAREHOUSE", ""),
            sensor_interval_s=int(os.environ.get("CT_SENSOR_INTERVAL_S") or 0),
        )

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def warehouse(self) -> str:
        """The warehouse target: `CT_WAREHOUSE`, else the DuckDB file."""
        return self.warehouse_target or str(self.warehouse_path)

    @property
    def profiles_dir(self) -> Path:
        return self.data_dir / "profiles"

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster_home"
