"""Feature drift: one day of features against the training window of the model serving it.

A day is not a sample of its window. Its weather is one weather state (a day of rain is far from
a month's precipitation by any test or PSI), its real-time features follow that day's storms.
A fixed effect-size threshold either alarms every day or never. So the baseline is calibrated
from the window itself, one feature at a time, from its daily profiles:

- PSI of each window day against the merged window gives the feature's ordinary day-to-day PSI;
  today's PSI is judged against `psi_margin` x the largest of those (and never below the
  customary 0.25). Calendar-like features stay tight; weather gets the slack it needs.
- the daily means of the window give a location and a spread; today's mean is a z-score
  against them (the spread floored at `mean_floor` x the mean within-day standard deviation, so a
  window of identical days does not make any change infinite). A unit change moves the mean by
  many spreads, a windy day by a few.
- the range of the window: the share of today's values outside [min, max] of the window, judged
  against the same share for each window day left out of the range of the others. A unit change
  (Fahrenheit to Celsius, millibar to inHg) puts most of a day outside; a record day, a few hours.
- the daily null rates give a location and a spread for today's null rate.
- categories never seen in the window (a new carrier code) as a share of today's rows.

Each signal is divided by its limit, so a `severity` of 1 means "alarm", and the day's `score`
is the largest severity among the monitored features. The calibration is computed once, when a
candidate is trained, and logged with the model next to its merged whylogs profile; a drift check
is then a few dictionary look-ups and one profile comparison.
"""

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ct_assets.core.drift import DriftThresholds, column_drift
from ct_assets.core.features import FEATURES
from ct_assets.core.schema import Column, TableSpec

if TYPE_CHECKING:
    from whylogs.core import DatasetProfileView

# Calendar features move by construction (a day has one weekday, the window has seven; the day
# of the year is always past the window): their shift is the calendar, not drift.
CALENDAR = frozenset({"day_of_week", "month", "day_of_year", "is_weekend"})

FEATURE_SPEC = TableSpec("flight_features", tuple(
    Column(f.name, "str" if f.kind == "categorical" else "float",
           drift_role="ignore" if f.name in CALENDAR else "monitor",
           description=f.description)
    for f in FEATURES))
MIN_CALIBRATION_DAYS = 3        # a day-to-day spread needs at least three days

MONITORED = [c.name for c in FEATURE_SPEC.columns if c.drift_role == "monitor"]


@dataclass(frozen=True)
class FeatureDriftConfig:
    psi_margin: float = 5.0      # today's PSI may reach 5x the window's worst ordinary day
    psi_floor: float = 0.25      # ... and never alarms below the customary PSI threshold
    z_limit: float = 8.0         # daily mean this many daily-mean spreads from the window
    mean_floor: float = 1.0      # spread >= 1 x the mean within-day standard deviation
    range_margin: float = 2.5    # share outside the window's range: 2.5x the worst window day
    range_floor: float = 0.5     # ... and never alarms below this share
    null_limit: float = 0.15     # null rate this far from the window's mean null rate ...
    null_z: float = 6.0          # ... and this many spreads of the daily null rates
    unseen_limit: float = 0.05   # share of today's rows with a category the window never had


def _summary(view: "DatasetProfileView", column: str) -> tuple[float, float, float]:
    """(mean, within-day stddev, null rate) of one column of a profile."""
    col = view.get_column(column)
    counts = col.get_metric("counts").to_summary_dict()
    null_rate = counts["null"] / counts["n"] if counts["n"] else 0.0
    dist = col.get_metric("distribution")
    if dist is None or dist.kll.value.is_empty():
        return math.nan, math.nan, null_rate
    return float(dist.mean.value), float(dist.stddev), null_rate


def _bounds(view: "DatasetProfileView", column: str) -> tuple[float, float]:
    dist = view.get_column(column).get_metric("distribution")
    if dist is None or dist.kll.value.is_empty():
        return math.nan, math.nan
    return float(dist.kll.value.get_min_value()), float(dist.kll.value.get_max_value())


def _outside(view: "DatasetProfileView", column: str, low: float, high: float) -> float:
    """Share of the column's non-null values below `low` or above `high`."""
    dist = view.get_column(column).get_metric("distribution")
    if dist is None or dist.kll.value.is_empty() or math.isnan(low) or math.isnan(high):
        return 0.0
    kll = dist.kll.value
    below = kll.get_cdf([low], False)[0]          # P(x < low)
    above = 1.0 - kll.get_cdf([high], True)[0]    # P(x > high)
    return float(below + above)


def calibrate(reference: "DatasetProfileView", daily: list["DatasetProfileView"],
              config: FeatureDriftConfig = FeatureDriftConfig()) -> dict[str, dict]:
    """Per-feature limits from the daily profiles of a window and their merge (`reference`).

    JSON-serialisable, so it is logged with the model and read back by the drift check.
    """
    if len(daily) < MIN_CALIBRATION_DAYS:
        raise ValueError(f"calibration needs at least {MIN_CALIBRATION_DAYS} daily profiles, "
                         f"got {len(daily)}")
    psis = pd.concat([column_drift(reference, day, FEATURE_SPEC).assign(i=i)
                      for i, day in enumerate(daily)])
    out = {}
    for column in MONITORED:
        numeric = FEATURE_SPEC.column(column).dtype != "str"
        day_psi = psis.loc[psis["column"] == column, "psi"].dropna()
        worst_psi = float(day_psi.max()) if len(day_psi) else 0.0
        entry = {"psi_limit": max(config.psi_floor, config.psi_margin * worst_psi)}
        stats = np.array([_summary(day, column) for day in daily]) if numeric else None
        nulls = np.array([_summary(day, column)[2] for day in daily]) if not numeric \
            else stats[:, 2]
        entry["null_center"] = float(nulls.mean())
        entry["null_limit"] = max(config.null_limit, config.null_z * float(nulls.std(ddof=1)))
        if numeric:
            means, within = stats[:, 0], stats[:, 1]
            means, within = means[~np.isnan(means)], within[~np.isnan(within)]
            if len(means) >= 3:
                spread = max(float(means.std(ddof=1)),
                             config.mean_floor * float(within.mean()) if len(within) else 0.0,
                             1e-9)
                entry |= {"mean_center": float(means.mean()), "mean_spread": spread}
            bounds = np.array([_bounds(day, column) for day in daily])
            outside = []
            for i, day in enumerate(daily):
                others = np.delete(bounds, i, axis=0)
                if np.isnan(others).all() or np.isnan(bounds[i]).any():
                    continue
                outside.append(_outside(day, column, float(np.nanmin(others[:, 0])),
                                        float(np.nanmax(others[:, 1]))))
            entry |= {"low": float(np.nanmin(bounds[:, 0])) if not np.isnan(bounds).all()
                      else math.nan,
                      "high": float(np.nanmax(bounds[:, 1])) if not np.isnan(bounds).all()
                      else math.nan,
                      "range_limit": max(config.range_floor,
                                         config.range_margin * max(outside, default=0.0))}
        out[column] = entry
    return out


def score(reference: "DatasetProfileView", current: "DatasetProfileView",
          calibration: dict[str, dict],
          config: FeatureDriftConfig = FeatureDriftConfig()) -> pd.DataFrame:
    """Severity of each monitored feature of `current` against the calibrated reference.

    Columns: column, severity, signal (psi / mean_shift / null_rate / unseen, the one that set
    the severity), psi, z (today's mean in daily-mean spreads), null_ref, null_cur,
    unseen_share. Sorted by severity, worst first.
    """
    raw = column_drift(reference, current, FEATURE_SPEC,
                       DriftThresholds(psi=1.0, null_rate=1.0, unseen_share=1.0))
    rows = []
    for item in raw.itertuples():
        limits = calibration.get(item.column)
        if limits is None:
            continue
        mean, _, null_cur = _summary(current, item.column) \
            if FEATURE_SPEC.column(item.column).dtype != "str" \
            else (math.nan, math.nan, item.null_cur)
        z = math.nan
        if "mean_center" in limits and not math.isnan(mean):
            z = (mean - limits["mean_center"]) / limits["mean_spread"]
        unseen = 0.0 if math.isnan(item.unseen_share) else item.unseen_share
        outside = 0.0
        if "range_limit" in limits:
            outside = _outside(current, item.column, limits["low"], limits["high"])
        signals = {
            "psi": (0.0 if math.isnan(item.psi) else item.psi) / limits["psi_limit"],
            "mean_shift": 0.0 if math.isnan(z) else abs(z) / config.z_limit,
            "out_of_range": outside / limits["range_limit"] if "range_limit" in limits else 0.0,
            "null_rate": abs(null_cur - limits["null_center"]) / limits["null_limit"],
            "unseen": unseen / config.unseen_limit,
        }
        signal = max(signals, key=signals.get)
        rows.append({"column": item.column, "severity": signals[signal], "signal": signal,
                     "psi": item.psi, "z": z, "null_ref": limits["null_center"],
                     "null_cur": null_cur, "unseen_share": unseen, "outside_share": outside})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.sort_values("severity", ascending=False).reset_index(drop=True)


def summary_score(scores: pd.DataFrame) -> float:
    """The day's drift score: the severity of its most drifted monitored feature."""
    return float(scores["severity"].max()) if len(scores) else 0.0


def markdown(scores: pd.DataFrame, top: int = 8) -> str:
    """The features that moved most, for the Dagster UI."""
    if scores.empty:
        return "_no monitored features_"
    lines = ["| feature | signal | severity | PSI | mean shift (spreads) | null % ref → today |",
             "|---|---|---:|---:|---:|---:|"]
    for row in scores.head(top).itertuples():
        psi = "–" if math.isnan(row.psi) else f"{row.psi:.3f}"
        z = "–" if math.isnan(row.z) else f"{row.z:+.1f}"
        flag = " ⚠" if row.severity >= 1 else ""
        lines.append(f"| {row.column} | {row.signal} | {row.severity:.2f}{flag} | {psi} | {z} | "
                     f"{100 * row.null_ref:.1f} → {100 * row.null_cur:.1f} |")
    return "\n".join(lines)


def config_dict(config: FeatureDriftConfig = FeatureDriftConfig()) -> dict:
    return asdict(config)
