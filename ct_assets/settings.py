"""Where state lives and which days exist, read from the environment when definitions load.

- `CT_DATA_DIR` (default `./data`): landing files, warehouse, profiles, Dagster home.
- `CT_PARTITIONS_START` / `CT_PARTITIONS_END` (default 2013-01-01 / 2014-01-01): the daily
  partitions, end exclusive.
- `CT_WINDOW_DAYS` / `CT_HOLDOUT_DAYS` (default: `core.loop.RetrainSpec`'s): the labelled days
  a candidate learns from and the newest of them kept out for the gate.
"""

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from ct_assets.core.days import parse_day


def _int_env(name: str) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a whole number of days") from exc


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    start: dt.date = dt.date(2013, 1, 1)
    end: dt.date = dt.date(2014, 1, 1)
    window_days: int | None = None
    holdout_days: int | None = None

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            data_dir=Path(os.environ.get("CT_DATA_DIR", "data")).resolve(),
            start=parse_day(os.environ.get("CT_PARTITIONS_START", "2013-01-01")),
            end=parse_day(os.environ.get("CT_PARTITIONS_END", "2014-01-01")),
            window_days=_int_env("CT_WINDOW_DAYS"),
            holdout_days=_int_env("CT_HOLDOUT_DAYS"),
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
    def profiles_dir(self) -> Path:
        return self.data_dir / "profiles"

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster_home"
