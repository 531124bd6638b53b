"""The floor: the loop's work as direct `core/` calls in one process, no Dagster, no MLflow.

Every landed file read, typed, repaired and split by the row rules, and each day's flights
profiled (what `raw_*`, `validated_*` and `flight_profile` compute); the features and labels
of every featurised day through `core.features` (DuckDB); and `ct bench policies`'
`production` replay over the served days: the same fits, gates, drift references and scores,
decided by the same walk. The replay reads the validated rows the live loop wrote, so its
decisions can be compared with the live loop's one for one.
"""

import datetime as dt
import time
from pathlib import Path

import pandas as pd

TABLES = ("flights", "weather")


def _timed(parts: dict, name: str, fn):
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    parts[name] = {"cpu_s": round(time.process_time() - cpu, 2),
                   "wall_s": round(time.perf_counter() - wall, 2)}
    return result


def ingest_and_validate(landing_dir: Path, days: list[dt.date]) -> int:
    """Read, type, repair and split every landed file; profile each day's flights. Returns the
    rows validation keeps."""
    from ct_assets.core import ingest, landing, profiles, validation
    from ct_assets.core.errors import CTInputError
    from ct_assets.sources import nycflights13 as source

    kept = 0
    for table in TABLES:
        spec = source.SPECS[table]()
        profiled = [c.name for c in spec.columns if c.dtype != "timestamp"]
        for day in days:
            try:
                loaded = ingest.read_landed(landing.landed_path(landing_dir, table, day), spec,
                                            day.isoformat())
            except CTInputError:     # refused by the live loop too (the feed's empty Dec 31)
                continue
            repaired, _ = validation.repair(loaded.frame, spec)
            kept += len(validation.split_rows(repaired, spec, day).valid)
            if table == "flights":
                profiles.profile_frame(repaired, profiled)
    return kept


def warehouse_frames(warehouse: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The validated flights and weather and the planes the live loop's warehouse holds."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as conn:
        frames = tuple(conn.execute(f"SELECT * FROM {table}").df() for table in (
            "validated_flights", "validated_weather", "ref_planes"))
    for frame in frames[:2]:
        frame["ds"] = pd.to_datetime(frame["ds"]).dt.date
    return frames


def floor(data_dir: Path, landed: list[dt.date], featurised: list[dt.date],
          serve_from: dt.date, spec) -> dict:
    """CPU and wall seconds of each part, and the replay's retrains as (day, sorted kinds,
    promoted) for the served days [serve_from, last featurised day]."""
    from ct_assets.bench.policies.lab import Lab
    from ct_assets.bench.policies.replay import simulate
    from ct_assets.bench.train.data import labelled_frame

    parts: dict[str, dict] = {}
    _timed(parts, "ingest, validation, flight profiles",
           lambda: ingest_and_validate(data_dir / "landing", landed))
    frames = warehouse_frames(data_dir / "warehouse.duckdb")
    end = max(featurised) + dt.timedelta(days=1)
    frame = _timed(parts, "features and labels (core.features)",
                   lambda: labelled_frame(min(featurised), end, frames=frames))
    frame = frame[frame["ds"].isin(set(featurised))]
    result = _timed(parts, "production replay: fits, gates, drift, walk",
                    lambda: simulate(frame, ["production"], serve_from, end, spec=spec,
                                     lab=Lab(frame, spec=spec))["production"])
    retrains = [[r.day.isoformat(), sorted(r.kinds), bool(r.promoted)]
                for r in result.retrains]
    return {"cpu_s": round(sum(p["cpu_s"] for p in parts.values()), 2),
            "wall_s": round(sum(p["wall_s"] for p in parts.values()), 2),
            "parts": parts, "retrains": retrains,
            "promotions": sum(1 for r in retrains if r[2])}
