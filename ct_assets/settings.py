"""Where state lives and which days exist, read from the environment when definitions load.

- `CT_DATA_DIR` (default `./data`): landing files, warehouse, profiles, Dagster home.
- `CT_PARTITIONS_START` / `CT_PARTITIONS_END` (default 2013-01-01 / 2014-01-01): the daily
  partitions, end exclusive.
- `CT_WINDOW_DAYS` / `CT_HOLDOUT_DAYS` (default: `core.loop.RetrainSpec`'s): the labelled days
  a candidate learns from and the newest of them kept out for the gate.
- `CT_WAREHOUSE` (default the DuckDB file `<CT_DATA_DIR>/warehouse.duckdb`): a DuckLake or
  Postgres target instead (`core/warehouse_backends.py`).
- `CT_SENSOR_INTERVAL_S` (default unset: each sensor's own interval, 15 s for the landing
  sensor, 30 s for automation, 10 s for the retrain sensor): every sensor ticks at most
  this often (`definitions.tick_every`). The daemons evaluate sensors at most every 5 s or so,
  so anything under 5 means "every daemon loop"; `ct bench catchup` uses 2.
- `CT_SERVE_FROM` (default: none): the day the first champion serves. Without it the first
  champion is trained for the day after the newest featurised day (a catch-up serves from
  then on); with it, for that day once its training window is featurised, and the loop then
  walks every later day (a catch-up serves its history too).
"""

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from ct_assets.core.days import parse_day


def _int_env(name: str, unit: str = "days") -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a whole number of {unit}") from exc


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    start: dt.date = dt.date(2013, 1, 1)
    end: dt.date = dt.date(2014, 1, 1)
    window_days: int | None = None
    holdout_days: int | None = None
    warehouse_target: str = ""
    sensor_interval_s: int = 0
    serve_from: dt.date | None = None

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            data_dir=Path(os.environ.get("CT_DATA_DIR", "data")).resolve(),
            start=parse_day(os.environ.get("CT_PARTITIONS_START", "2013-01-01")),
            end=parse_day(os.environ.get("CT_PARTITIONS_END", "2014-01-01")),
            window_days=_int_env("CT_WINDOW_DAYS"),
            holdout_days=_int_env("CT_HOLDOUT_DAYS"),
            warehouse_target=os.environ.get("CT_WAREHOUSE", ""),
            sensor_interval_s=_int_env("CT_SENSOR_INTERVAL_S", "seconds") or 0,
            serve_from=(parse_day(os.environ["CT_SERVE_FROM"])
                        if os.environ.get("CT_SERVE_FROM") else None),
        )

    def retrain_overrides(self) -> dict[str, int]:
        """The retrain windows set in the environment (the spec's defaults otherwise)."""
        return {k: v for k, v in (("window_days", self.window_days),
                                  ("holdout_days", self.holdout_days)) if v is not None}

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
