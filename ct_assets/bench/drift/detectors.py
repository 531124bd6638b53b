"""The two detectors on the same rows: ours over a profile store of daily whylogs profiles, as
the `feature_drift` asset runs it, and Evidently's `DataDriftPreset`; and the feature rows of
each day they judge."""

import datetime as dt
import os
import time
import warnings
from importlib import metadata
from pathlib import Path

import pandas as pd

from ct_assets.core import feature_drift
from ct_assets.core.features import CATEGORICAL, FEATURE_NAMES

PROFILE_NAME = "flight_features"


def feature_days(start: dt.date, end: dt.date) -> dict[dt.date, pd.DataFrame]:
    """The feature rows of each day of [start, end), computed from the whole year of flights
    (so the first days have their full 28-day history) in DuckDB, as the offline store does."""
    from ct_assets.bench.features import duckdb_features, warehouse_in_memory, year_frames

    conn = warehouse_in_memory(*year_frames())
    frame = duckdb_features(conn, start, end).to_pandas()
    conn.close()
    frame["ds"] = pd.to_datetime(frame["ds"]).dt.date
    return {day: rows.reset_index(drop=True) for day, rows in frame.groupby("ds", sort=True)}


class Ours:
    """Our check over a profile store of daily feature profiles (a folder, as in production)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def store(self, day: dt.date, rows: pd.DataFrame) -> None:
        from ct_assets.core import profiles

        profiles.write_profile(self.root, PROFILE_NAME, day,
                               profiles.profile_frame(rows, FEATURE_NAMES))

    def reference(self, days: list[dt.date]):
        """(merged view, calibration, seconds of each part): read the stored profiles of `days`,
        merge them, calibrate."""
        from ct_assets.core import profiles

        t0 = time.perf_counter()
        views = [v for v in (profiles.read_profile(self.root, PROFILE_NAME, d) for d in days)
                 if v is not None]
        t1 = time.perf_counter()
        merged = views[0]
        for view in views[1:]:
            merged = merged.merge(view)
        t2 = time.perf_counter()
        calibration = feature_drift.calibrate(merged, views)
        t3 = time.perf_counter()
        return merged, calibration, {"read_s": t1 - t0, "merge_s": t2 - t1,
                                     "calibrate_s": t3 - t2}

    @staticmethod
    def check(rows: pd.DataFrame, reference, calibration) -> tuple[dict, float]:
        """Profile today's rows and score them: (result, seconds)."""
        from ct_assets.core import profiles

        began = time.perf_counter()
        view = profiles.profile_frame(rows, FEATURE_NAMES)
        scores = feature_drift.score(reference, view, calibration)
        summary = feature_drift.summary_score(scores)
        seconds = time.perf_counter() - began
        top = scores.iloc[0] if len(scores) else None
        return {
            "score": summary,
            "flagged": summary >= 1.0,
            "top": None if top is None else f"{top['column']}/{top['signal']}",
            "alarms": sorted(scores.loc[scores["severity"] >= 1.0, "column"]),
        }, seconds


class Evidently:
    """Evidently's `DataDriftPreset` with its defaults, on the monitored feature columns."""

    def __init__(self):
        # Only Evidently's UI service sends telemetry; say no anyway, nothing leaves the machine.
        os.environ.setdefault("DO_NOT_TRACK", "1")
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset

        self.columns = list(feature_drift.MONITORED)
        self._dataset, self._report, self._preset = Dataset, Report, DataDriftPreset
        self._definition = DataDefinition(
            numerical_columns=[c for c in self.columns if c not in CATEGORICAL],
            categorical_columns=[c for c in self.columns if c in CATEGORICAL])
        self.version = metadata.version("evidently")

    def check(self, rows: pd.DataFrame, reference: pd.DataFrame) -> tuple[dict, float]:
        """One report (current = `rows`, reference = `reference`): (result, seconds)."""
        began = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                snapshot = self._report([self._preset(columns=self.columns)]).run(
                    self._dataset.from_pandas(rows[self.columns],
                                              data_definition=self._definition),
                    self._dataset.from_pandas(reference[self.columns],
                                              data_definition=self._definition))
        except Exception as exc:   # Evidently refuses some inputs (an all-null column) outright
            seconds = time.perf_counter() - began
            message = str(exc).splitlines()[0] if str(exc) else ""
            return {"error": f"{type(exc).__name__}: {message}"}, seconds
        seconds = time.perf_counter() - began
        metrics = snapshot.dict()["metrics"]
        counts = next(m["value"] for m in metrics
                      if m["config"]["type"].endswith("DriftedColumnsCount"))
        drifted = sorted(m["config"]["column"] for m in metrics
                         if m["config"]["type"].endswith("ValueDrift")
                         and m["value"] is not None and m["value"] >= m["config"]["threshold"])
        return {
            "share": float(counts["share"]),
            "count": int(counts["count"]),
            "flagged": float(counts["share"]) >= 0.5,
            "any": int(counts["count"]) >= 1,
            "drifted": drifted,
        }, seconds

