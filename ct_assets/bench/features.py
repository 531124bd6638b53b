"""`ct bench features`: the year's features through `core.features` (DuckDB) against the same
joins in pandas `merge_asof`, each in its own process so peak memory is its own."""

import datetime as dt
import multiprocessing as mp
import resource
import time
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from ct_assets.bench.pandas_features import pandas_features
from ct_assets.core import features, validation
from ct_assets.sources import nycflights13 as source


@dataclass
class Measure:
    name: str
    seconds: float
    rows: int
    peak_rss_mb: float
    baseline_rss_mb: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else float("nan")


def validated(frame: pd.DataFrame, spec) -> pd.DataFrame:
    """The rows of `frame` (many days, `ds`) that validation keeps, repaired as it repairs
    them: what `validated_flights` / `validated_weather` hold for the same deliveries."""
    repaired, _ = validation.repair(frame, spec)
    return validation.split_rows(repaired, spec, "ds").valid


def validated_year_frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """`year_frames` after the row rules of validation: the inputs production's features see
    (the real 2013 feed quarantines one weather report: EWR's 1,048 mph wind of Feb 12)."""
    flights, weather, planes = year_frames()
    return (validated(flights, source.flights_spec()), validated(weather, source.weather_spec()),
            planes)


def year_frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    flights = source.full_year("flights")
    flights["ds"] = pd.to_datetime(flights[["year", "month", "day"]]).dt.date
    weather = source.full_year("weather")
    weather["ds"] = pd.to_datetime(weather[["year", "month", "day"]]).dt.date
    planes = source.reference_tables()["ref_planes"]
    return flights, weather, planes


def warehouse_in_memory(flights, weather, planes) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(":memory:")
    for name, frame in (("validated_flights", flights), ("validated_weather", weather),
                        ("ref_planes", planes)):
        conn.register("_frame", frame)
        conn.execute(f"CREATE TABLE {name} AS SELECT * FROM _frame")
        conn.unregister("_frame")
    ddl = ", ".join(f"{c} {t}" for c, t in features.VALIDATION_STATUS_COLUMNS.items())
    for table in ("validation_status", "weather_validation_status"):
        conn.execute(f"CREATE TABLE {table} ({ddl})")
    return conn


def duckdb_features(conn, start: dt.date, end: dt.date) -> pd.DataFrame:
    conn.execute("CREATE OR REPLACE TEMP TABLE bench_targets AS SELECT * FROM validated_flights "
                 "WHERE ds >= ? AND ds < ?", [start, end])
    # `execute`, as the asset runs it: DuckDB 1.4's relation API (`conn.sql(…, params=…)`)
    # takes about 4x as long on this query
    return conn.execute(features.feature_sql("bench_targets", source.AVAILABILITY),
                        features.feature_params(start, end, source.AVAILABILITY)
                        ).fetch_arrow_table()


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(name: str, start: dt.date, end: dt.date, repeat: int, queue) -> None:
    flights, weather, planes = year_frames()
    conn = warehouse_in_memory(flights, weather, planes) if name == "duckdb" else None
    baseline = _rss_mb()
    best, rows = float("inf"), 0
    for _ in range(repeat):
        began = time.perf_counter()
        if conn is not None:
            rows = duckdb_features(conn, start, end).num_rows
        else:
            rows = len(pandas_features(flights, weather, planes, start, end))
        best = min(best, time.perf_counter() - began)
    queue.put(Measure(name, best, rows, _rss_mb(), baseline))


def measure(name: str, start: dt.date, end: dt.date, repeat: int) -> Measure:
    """Run one implementation in a fresh process; best wall time of `repeat` runs."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure, args=(name, start, end, repeat, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def compare(start: dt.date, end: dt.date) -> float:
    """Largest absolute difference between the two implementations over [start, end)."""
    flights, weather, planes = year_frames()
    conn = warehouse_in_memory(flights, weather, planes)
    key = ["ds", "carrier", "flight", "origin"]
    ours = duckdb_features(conn, start, end).to_pandas().sort_values(key).reset_index(drop=True)
    peer = pandas_features(flights, weather, planes, start, end)
    worst = 0.0
    for col in peer.columns:
        if col in key or col == "dest":
            continue
        a = pd.to_numeric(ours[col], errors="coerce").to_numpy(dtype=float)
        b = pd.to_numeric(peer[col], errors="coerce").to_numpy(dtype=float)
        if not np.array_equal(np.isnan(a), np.isnan(b)):
            return float("inf")
        both = ~np.isnan(a)
        if both.any():
            worst = max(worst, float(np.max(np.abs(a[both] - b[both]))))
    return worst


def weather_audit(start: dt.date, end: dt.date) -> dict:
    """How many flights of [start, end) with weather take a report that was not yet known at
    their cutoff: joined on the label time (HH:00, the rule before availability was data) and
    on the source's declared availability (HH:51). The weather row a flight used was known
    `wx_age_min` minutes before its cutoff under the rule it was joined with; under the label
    rule, a row labelled less than 51 minutes before the cutoff was still being observed."""
    import dataclasses

    flights, weather, planes = year_frames()
    conn = warehouse_in_memory(flights, weather, planes)
    conn.execute("CREATE OR REPLACE TEMP TABLE audit_targets AS SELECT * FROM validated_flights "
                 "WHERE ds >= ? AND ds < ?", [start, end])
    declared = source.AVAILABILITY
    offset_min = declared.weather.offset.total_seconds() / 60
    label_time = dataclasses.replace(
        declared, weather=dataclasses.replace(declared.weather, offset=dt.timedelta(0)))
    out = {}
    for name, rule, shift in (("label_time", label_time, 0.0),
                              ("declared", declared, offset_min)):
        frame = conn.execute(features.feature_sql("audit_targets", rule),
                             features.feature_params(start, end, rule)).df()
        with_weather = frame[frame["wx_temp"].notna()]
        # minutes between the end of the observation and the cutoff, under the true rule
        age = with_weather["wx_age_min"] + shift - offset_min
        out[name] = {"flights": int(len(frame)), "with_weather": int(len(with_weather)),
                     "weather_not_yet_known": int((age < 0).sum())}
    return out
