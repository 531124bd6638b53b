"""The feature definitions: the one place that says how each feature is computed.

Every feature of a flight uses only what was *available* at its cutoff, one hour before its
scheduled departure. Availability is data, declared by the source
(`core.availability.SourceAvailability`) and passed in, never a label time:
- weather at the origin: the last observation available at or before the cutoff (its
  `EventTime`: the end of the period its values cover), if not older than
  `WEATHER_TOLERANCE_H`; `wx_age_min` is that observation's age at the cutoff;
- the real-time feature: mean departure delay of the flights whose departure was known (had
  happened) in the two hours before the cutoff;
- carrier and route delay rates over the 28 most recent *published* days of outcomes: the
  outcomes of a day are one `DailyBatch`, so a flight whose cutoff comes before yesterday's
  publication uses the 28 days up to the day before yesterday, a later one those up to
  yesterday; shrunk toward the window's overall rate for small counts;
- plane age from the reference planes table (static), and calendar features of the
  scheduled departure.
History never includes a day whose validation failed a blocking check (`validation_status`),
and weather of a day whose weather validation failed (`weather_validation_status`) is never
used; weather comes from `validated_weather` only.

`feature_sql` computes them for any set of target flights: the offline store passes a day range
of `validated_flights`; an online store passes the flights of a request. There is no second
implementation. The label (`is_delayed`) is computed by `label_sql`, apart from the features.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from ct_assets.core.availability import SourceAvailability

WEATHER_TOLERANCE_H = 3
REALTIME_WINDOW_H = 2
CUTOFF_H = 1
RATE_WINDOW_DAYS = 28      # published days of outcomes behind the delay rates
RATE_PRIOR_FLIGHTS = 20    # shrinkage: a rate from n flights counts as n / (n + 20)
DELAY_MINUTES = 15

KEY_COLUMNS = ("ds", "carrier", "flight", "origin")


@dataclass(frozen=True)
class Feature:
    name: str
    sql: str
    kind: Literal["numeric", "categorical"]
    description: str


_WX = f"(f.cutoff_ts - f.wx_ts <= INTERVAL {WEATHER_TOLERANCE_H} HOUR)"

FEATURES: tuple[Feature, ...] = (
    Feature("carrier", "f.carrier", "categorical", "airline code"),
    Feature("origin", "f.origin", "categorical", "NYC origin airport"),
    Feature("dest", "f.dest", "categorical", "destination airport"),
    Feature("distance", "f.distance::DOUBLE", "numeric", "great-circle distance, miles"),
    Feature("sched_hour", "f.hour::BIGINT", "numeric", "scheduled departure hour, local"),
    Feature("day_of_week", "isodow(f.ds)::BIGINT", "numeric", "1 = Monday .. 7 = Sunday"),
    Feature("month", "month(f.ds)::BIGINT", "numeric", "calendar month"),
    Feature("day_of_year", "dayofyear(f.ds)::BIGINT", "numeric", "day of the year"),
    Feature("is_weekend", "(isodow(f.ds) >= 6)::BIGINT", "numeric", "Saturday or Sunday"),
    Feature("plane_age", "(year(f.ds) - f.plane_year)::DOUBLE", "numeric",
            "years since the plane was built (null if unknown)"),
    Feature("plane_seats", "f.plane_seats::DOUBLE", "numeric", "seats of the plane"),
    Feature("wx_age_min", f"CASE WHEN {_WX} THEN date_diff('minute', f.wx_ts, f.cutoff_ts) END",
            "numeric", "age at the cutoff of the weather observation used (from the end of "
                       "the period it covers)"),
    *(Feature(f"wx_{c}", f"CASE WHEN {_WX} THEN f.{c} END", "numeric",
              f"origin weather {c} as of the cutoff")
      for c in ("temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip",
                "pressure", "visib")),
    Feature("origin_dep_delay_2h", "rt.mean_delay", "numeric",
            "mean departure delay at the origin in the 2 h before the cutoff (real-time)"),
    Feature("origin_departures_2h", "coalesce(rt.departures, 0)::BIGINT", "numeric",
            "departures from the origin in the 2 h before the cutoff"),
    Feature("carrier_delay_rate_28d",
            f"CASE WHEN g.n > 0 THEN (coalesce(ch.k, 0) + {RATE_PRIOR_FLIGHTS} * g.k / g.n)"
            f" / (coalesce(ch.n, 0) + {RATE_PRIOR_FLIGHTS}) END",
            "numeric", "carrier's share of arrivals >15 min late, last 28 published days"),
    Feature("carrier_flights_28d", "coalesce(ch.n, 0)::BIGINT", "numeric",
            "carrier's flights with a known outcome, 28 published days"),
    Feature("route_delay_rate_28d",
            f"CASE WHEN g.n > 0 THEN (coalesce(rh.k, 0) + {RATE_PRIOR_FLIGHTS} * g.k / g.n)"
            f" / (coalesce(rh.n, 0) + {RATE_PRIOR_FLIGHTS}) END",
            "numeric", "route's (origin-dest) share of arrivals >15 min late, 28 published days"),
    Feature("route_flights_28d", "coalesce(rh.n, 0)::BIGINT", "numeric",
            "route's flights with a known outcome, 28 published days"),
)

FEATURE_NAMES = [f.name for f in FEATURES]
CATEGORICAL = [f.name for f in FEATURES if f.kind == "categorical"]


def _first_cutoff_local(day: dt.date) -> dt.datetime:
    """The earliest possible cutoff of a flight of local day `day` (a departure at 00:00)."""
    return dt.datetime.combine(day, dt.time()) - dt.timedelta(hours=CUTOFF_H)


def published_through(day: dt.date, availability: SourceAvailability) -> dt.date:
    """The newest day whose outcomes are published before every cutoff of `day`: what a model
    serving `day` may be trained and evaluated on, and the oldest rate window of its flights."""
    return availability.outcomes.last_published_day(_first_cutoff_local(day))


def history_bounds(start: dt.date, end: dt.date,
                   availability: SourceAvailability) -> dict[str, tuple[dt.date, dt.date]]:
    """Day ranges [lo, hi) of each history table that features of [start, end) may read."""
    first = published_through(start, availability)
    last = published_through(end, availability)     # the last cutoff of end-1 is before end
    return {
        "weather": (start - dt.timedelta(days=1), end),
        "departures": (start - dt.timedelta(days=1), end),
        "outcomes": (first - dt.timedelta(days=RATE_WINDOW_DAYS - 1),
                     last + dt.timedelta(days=1)),
    }


def feature_sql(targets: str, availability: SourceAvailability) -> str:
    """SELECT computing the features of the flights in relation `targets`.

    `targets` needs ds, carrier, flight, origin, dest, tailnum, distance, hour, minute (the
    scheduled departure, local) and time_hour (scheduled departure hour, UTC). History comes
    from `validated_flights`, `validated_weather`, `ref_planes`, `validation_status` and
    `weather_validation_status` (ds, passed); parameters, in order: weather lo, hi;
    departures lo, hi; outcomes lo, hi (see `history_bounds`). Each history row is used only
    from the moment `availability` says it became known. `targets` is an identifier from
    code, never data.
    """
    select = ",\n       ".join(f"{f.sql} AS {f.name}" for f in FEATURES)
    wx_known = availability.weather.sql()
    dep_known = availability.departures.sql()
    cutoff_local = (f"ds::TIMESTAMP + to_minutes((hour * 60 + minute)::BIGINT)"
                    f" - INTERVAL {CUTOFF_H} HOUR")
    through = availability.outcomes.last_published_sql(cutoff_local)
    return f"""
WITH t AS (
    SELECT ds, carrier, flight, origin, dest, tailnum, distance, hour, minute,
           time_hour + to_minutes(minute::BIGINT) AS sched_dep_ts,
           time_hour + to_minutes(minute::BIGINT) - INTERVAL {CUTOFF_H} HOUR AS cutoff_ts,
           {through} AS published_through
    FROM {targets}
),
wx AS (
    SELECT origin, {wx_known} AS wx_ts, temp, dewp, humid, wind_dir, wind_speed, wind_gust,
           precip, pressure, visib
    FROM validated_weather WHERE ds >= ? AND ds < ?
      AND ds NOT IN (SELECT ds FROM weather_validation_status WHERE NOT passed)
),
failed_days AS (SELECT ds FROM validation_status WHERE NOT passed),
f AS (
    SELECT t.*, wx.* EXCLUDE (origin), p.year AS plane_year, p.seats AS plane_seats
    FROM t
    ASOF LEFT JOIN wx ON t.origin = wx.origin AND t.cutoff_ts >= wx.wx_ts
    LEFT JOIN ref_planes p ON p.tailnum = t.tailnum
),
departures AS (
    -- Running totals of departure delays per origin, one row per distinct departure time, so
    -- that two ASOF lookups give the sum and count over any [from, to) interval.
    SELECT origin, dep_ts,
           sum(total) OVER w AS cum_delay, sum(n) OVER w AS cum_n
    FROM (
        SELECT origin, {dep_known} AS dep_ts, sum(dep_delay) AS total, count(*) AS n
        FROM validated_flights
        WHERE ds >= ? AND ds < ? AND dep_delay IS NOT NULL
          AND ds NOT IN (SELECT ds FROM failed_days)
        GROUP BY ALL
    )
    WINDOW w AS (PARTITION BY origin ORDER BY dep_ts ROWS UNBOUNDED PRECEDING)
),
rt AS (
    SELECT t.ds, t.carrier, t.flight, t.origin,
           coalesce(upto.cum_n, 0) - coalesce(before.cum_n, 0) AS departures,
           (coalesce(upto.cum_delay, 0) - coalesce(before.cum_delay, 0))
             / nullif(coalesce(upto.cum_n, 0) - coalesce(before.cum_n, 0), 0) AS mean_delay
    FROM t
    ASOF LEFT JOIN departures upto
      ON upto.origin = t.origin AND t.cutoff_ts > upto.dep_ts
    ASOF LEFT JOIN departures before
      ON before.origin = t.origin
     AND t.cutoff_ts - INTERVAL {REALTIME_WINDOW_H} HOUR > before.dep_ts
),
outcomes AS (
    SELECT ds, carrier, origin, dest, count(arr_delay) AS n,
           count_if(arr_delay > {DELAY_MINUTES}) AS k
    FROM validated_flights
    WHERE ds >= ? AND ds < ? AND ds NOT IN (SELECT ds FROM failed_days)
    GROUP BY ALL
),
windows AS (SELECT DISTINCT published_through FROM t),
windowed AS (
    SELECT w.published_through, o.*
    FROM windows w JOIN outcomes o
      ON o.ds > w.published_through - {RATE_WINDOW_DAYS} AND o.ds <= w.published_through
),
g AS (SELECT published_through, sum(n) AS n, sum(k) AS k FROM windowed GROUP BY ALL),
ch AS (SELECT published_through, carrier, sum(n) AS n, sum(k) AS k FROM windowed GROUP BY ALL),
rh AS (SELECT published_through, origin, dest, sum(n) AS n, sum(k) AS k
       FROM windowed GROUP BY ALL)
SELECT f.ds, f.flight, f.sched_dep_ts, f.cutoff_ts,
       {select}
FROM f
LEFT JOIN rt ON rt.ds = f.ds AND rt.carrier = f.carrier AND rt.flight = f.flight
            AND rt.origin = f.origin
LEFT JOIN g ON g.published_through = f.published_through
LEFT JOIN ch ON ch.published_through = f.published_through AND ch.carrier = f.carrier
LEFT JOIN rh ON rh.published_through = f.published_through AND rh.origin = f.origin
            AND rh.dest = f.dest
ORDER BY f.ds, f.sched_dep_ts, f.carrier, f.flight, f.origin
"""


def feature_params(start: dt.date, end: dt.date,
                   availability: SourceAvailability) -> list[dt.date]:
    bounds = history_bounds(start, end, availability)
    return [*bounds["weather"], *bounds["departures"], *bounds["outcomes"]]


# The day-level verdict of a validated table (`validation_status` for the flights,
# `weather_validation_status` for the weather), written with its rows in one transaction.
VALIDATION_STATUS_COLUMNS = {"ds": "DATE", "passed": "BOOLEAN", "failed_checks": "VARCHAR",
                             "checked_at": "TIMESTAMP"}


def label_sql(targets: str) -> str:
    """SELECT of the label of each target flight; kept apart from the features."""
    return f"""
SELECT ds, carrier, flight, origin, arr_delay,
       CASE WHEN arr_delay IS NULL THEN NULL ELSE arr_delay > {DELAY_MINUTES} END AS is_delayed
FROM {targets}
ORDER BY ds, carrier, flight, origin
"""
