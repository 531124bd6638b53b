"""The known corruptions injected into copies of a day's feature rows, and the detectors'
names. Light on purpose: `ct bench drift --help` lists the shifts without importing pandas."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ct_assets.core.features import FEATURE_NAMES

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

NEW_CARRIER = "ZZ"
NEW_CARRIER_SHARE = 0.10
WEATHER = [name for name in FEATURE_NAMES if name.startswith("wx_")]


@dataclass(frozen=True)
class Shift:
    """A known corruption of one day's feature rows."""
    key: str
    label: str
    short: str                         # for the plot's axis
    columns: tuple[str, ...]           # the feature columns it changes
    apply: "Callable[[pd.DataFrame, np.random.Generator], None]"   # in place, on a copy


def _celsius(frame, _rng):
    frame["wx_temp"] = (frame["wx_temp"] - 32.0) * 5.0 / 9.0


def _inhg(frame, _rng):
    frame["wx_pressure"] = frame["wx_pressure"] * 0.02953


def _weather_nulls(frame, _rng):
    frame[WEATHER] = float("nan")


def _new_carrier(frame, rng):
    rows = rng.choice(len(frame), size=max(1, round(NEW_CARRIER_SHARE * len(frame))),
                      replace=False)
    frame.iloc[rows, frame.columns.get_loc("carrier")] = NEW_CARRIER


def _hour_plus_3(frame, _rng):
    frame["sched_hour"] = (frame["sched_hour"] + 3).clip(upper=23)


def _distance_x2(frame, _rng):
    frame["distance"] = frame["distance"] * 2.0


SHIFTS: tuple[Shift, ...] = (
    Shift("temp_celsius", "wx_temp in °C instead of °F", "wx_temp\n°F → °C", ("wx_temp",),
          _celsius),
    Shift("pressure_inhg", "wx_pressure in inHg instead of mbar", "wx_pressure\nmbar → inHg",
          ("wx_pressure",), _inhg),
    Shift("weather_nulls", "weather feed gone: every wx_* null", "weather feed\nall null",
          tuple(WEATHER), _weather_nulls),
    Shift("new_carrier", f"new carrier code on {NEW_CARRIER_SHARE:.0%} of rows",
          f"new carrier\n{NEW_CARRIER_SHARE:.0%} of rows", ("carrier",), _new_carrier),
    Shift("hour_plus_3", "sched_hour +3 h (clipped at 23)", "sched_hour\n+3 h",
          ("sched_hour",), _hour_plus_3),
    Shift("distance_x2", "distance x2", "distance\nx2", ("distance",), _distance_x2),
)
DETECTORS = {
    "ours": "ours: whylogs profiles, calibrated (summary score >= 1)",
    "evidently": "Evidently DataDriftPreset: dataset drift (>= 50% of columns)",
    "evidently_any": "Evidently DataDriftPreset: any column drifted",
}


def shifts_in(summary: dict) -> list[Shift]:
    """The shifts a run injected, in `SHIFTS` order."""
    return [s for s in SHIFTS if s.key in summary["quality"]["ours"]["shifts"]]


def inject(rows: "pd.DataFrame", shift: Shift, seed: int) -> "pd.DataFrame":
    """A copy of `rows` with `shift` applied (the random part seeded)."""
    import numpy as np

    frame = rows.copy()
    shift.apply(frame, np.random.default_rng(seed))
    return frame
