"""The feature definitions: the one place that says how each feature is computed.

Every feature of a flight uses only what was known at its *cutoff*, one hour before its
scheduled departure (all times UTC):
- weather at the origin: the last observation at or before the cutoff, if not older than
  `WEATHER_TOLERANCE`;
- the real-time feature: mean departure delay of the flights that actually left the same origin
  in the two hours before the cutoff (a departure is known the moment it happens);
- carrier and route delay rates over 28 days of *published* outcomes: a day's arrivals are
  published with its daily batch after the day ends, and a flight just after midnight has its
  cutoff at 23:00 the evening before, when yesterday's batch does not exist yet. So the window is
  the 28 days D-29 .. D-2, shrunk toward the window's overall rate for small counts;
- plane age from the reference planes table, and calendar features of the scheduled departure.
History never includes a day whose validation failed a blocking check (`validation_status`),
and weather of a day whose weather check failed is never used.

`feature_sql` computes them for any set of target flights: the offline store passes a day range
of `validated_flights`; an online store passes the flights of a request. There is no second
implementation. The label (`is_delayed`) is computed by `label_sql`, apart from the features.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Literal

WEATHER_TOLERANCE_H = 3
REALTIME_WINDOW_H = 2
CUTOFF_H = 1
RATE_WINDOW_DAYS = 28
RATE_GAP_DAYS = 2          # the last day of the window is D-2 (see above)
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
            "numeric", "minutes between the weather observation and the cutoff"),
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
            "numeric", "carrier's share of arrivals >15 min late, 28 published days"),
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


def history_bounds(start: dt.date, end: dt.date) -> dict[str, tuple[dt.date, dt.date]]:
    """Day ranges [lo, hi) of each history table that features of [start, end) may read."""
    return {
        "weather": (start - dt.timedelta(days=1), end),
        "departures": (start - dt.timedelta(days=1), end),
        "outcomes": (start - dt.timedelta(days=RATE_WINDOW_DAYS + RATE_GAP_DAYS - 1),
                     end - dt.timedelta(days=RATE_GAP_DAYS - 1)),
    }


def feature_sql(targets: str) -> str:
    """SELECT computing the features of the flights in relation `targets`.

    `targets` needs ds, carrier, flight, origin, dest, tailnum, distance, hour, minute and
    time_hour (scheduled departure hour, UTC). History comes from `validated_flights`,
    `raw_weather`, `ref_planes` and `validation_status` (ds, passed); parameters, in
    order: weather lo, hi; departures lo, hi; outcomes lo, hi (see `history_bounds`).
    `targets` is an identifier from code, never data.
    """
    select = ",\n       ".join(f"{f.sql} AS {f.name}" for f in FEATURES)
    return f"""
WITH t AS (
    SELECT ds, carrier, flight, origin, dest, tailnum, distance, hour, minute,
           time_hour + to_minutes(minute::BIGINT) AS sched_dep_ts,
           time_hour + to_minutes(minute::BIGINT) - INTERVAL {CUTOFF_H} HOUR AS cutoff_ts
    FROM {targets}
),
wx AS (
    SELECT origin, time_hour AS wx_ts, temp, dewp, humid, wind_dir, wind_speed, wind_gust,
           precip, pressure, visib
    FROM raw_weather WHERE ds >= ? AND ds < ?
      AND ds NOT IN (SELECT ds FROM validation_status
                     WHERE NOT passed AND failed_checks LIKE '%weather%')
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
        SELECT origin,
               time_hour + to_minutes(minute::BIGINT) + to_minutes(dep_delay::BIGINT) AS dep_ts,
               sum(dep_delay) AS total, count(*) AS n
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
target_days AS (SELECT DISTINCT ds FROM t),
windowed AS (
    SELECT td.ds AS target_ds, o.*
    FROM target_days td JOIN outcomes o
      ON o.ds >= td.ds - {RATE_WINDOW_DAYS + RATE_GAP_DAYS - 1}
     AND o.ds <= td.ds - {RATE_GAP_DAYS}
),
g AS (SELECT target_ds, sum(n) AS n, sum(k) AS k FROM windowed GROUP BY ALL),
ch AS (SELECT target_ds, carrier, sum(n) AS n, sum(k) AS k FROM windowed GROUP BY ALL),
rh AS (SELECT target_ds, origin, dest, sum(n) AS n, sum(k) AS k FROM windowed GROUP BY ALL)
SELECT f.ds, f.flight, f.sched_dep_ts, f.cutoff_ts,
       {select}
FROM f
LEFT JOIN rt ON rt.ds = f.ds AND rt.carrier = f.carrier AND rt.flight = f.flight
            AND rt.origin = f.origin
LEFT JOIN g ON g.target_ds = f.ds
LEFT JOIN ch ON ch.target_ds = f.ds AND ch.carrier = f.carrier
LEFT JOIN rh ON rh.target_ds = f.ds AND rh.origin = f.origin AND rh.dest = f.dest
ORDER BY f.ds, f.sched_dep_ts, f.carrier, f.flight, f.origin
"""


def feature_params(start: dt.date, end: dt.date) -> list[dt.date]:
    bounds = history_bounds(start, end)
    return [*bounds["weather"], *bounds["departures"], *bounds["outcomes"]]


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
