"""Where state lives and which days exist, read from the environment when definitions load.

- `CT_DATA_DIR` (default `./data`): landing files, warehouse, profiles, Dagster home.
- `CT_PARTITIONS_START` / `CT_PARTITIONS_END` (default 2013-01-01 / 2014-01-01): the daily
  partitions, end exclusive.
- `CT_WINDOW_DAYS` / `CT_HOLDOUT_DAYS` (default: `core.loop.RetrainSpec`'s): the labelled days
  a candidate learns from and the newest of them kept out for the gate.
- `CT_SENSOR_INTERVAL_S` (default: each sensor's own, 15 s for the landing sensor, 30 s for
  automation and the retrain and rescore sensors): one minimum interval for every sensor.
  Dagster's daemons evaluate sensors at most every 5 s, so anything under 5 means "every
  daemon loop"; `ct bench catchup` uses 2.
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
    sensor_interval_s: int | None = None
    serve_from: dt.date | None = None

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            data_dir=Path(os.environ.get("CT_DATA_DIR", "data")).resolve(),
            start=parse_day(os.environ.get("CT_PARTITIONS_START", "2013-01-01")),
            end=parse_day(os.environ.get("CT_PARTITIONS_END", "2014-01-01")),
            window_days=_int_env("CT_WINDOW_DAYS"),
            holdout_days=_int_env("CT_HOLDOUT_DAYS"),
            sensor_interval_s=_int_env("CT_SENSOR_INTERVAL_S", "seconds"),
            serve_from=(parse_day(os.environ["CT_SERVE_FROM"])
                        if os.environ.get("CT_SERVE_FROM") else None),
        )

    def sensor_interval(self, default_s: int) -> int:
        """A sensor's minimum interval: `CT_SENSOR_INTERVAL_S` if set, else its own default."""
        return self.sensor_interval_s if self.sensor_interval_s is not None else default_s

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
    def profiles_dir(self) -> Path:
        return self.data_dir / "profiles"

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster_home"
