"""Features: the offline feature store, built inside DuckDB with point-in-time joins.

`flight_features` of day D reads validated flights of D-29..D (outcome rates over the 28
newest published days, and the departures of the last hours for the real-time feature), the
validated origin weather of D-1..D and the reference planes, each row only from the moment the
source says it became known. Those windows are its declared inputs, so re-validating any day
refreshes, by automation, every later day whose features read it. How each feature is
computed lives in `ct_assets.core.features`, the same definitions an online store will call.
"""

import datetime as dt

import dagster as dg

from ct_assets.core import features, profiles, warehouse
from ct_assets.core.days import day_range
from ct_assets.defs.common import (
    SINGLE_RUN,
    WAREHOUSE_POOL,
    emit_days,
    fresh_when_upstream_is,
    fresh_with_history,
    run_days,
    schema_of,
    table_schema,
)
from ct_assets.defs.ingest.assets import reference_tables
from ct_assets.defs.partitions import daily_partitions
from ct_assets.defs.validate import flights as flight_checks
from ct_assets.defs.validate import status
from ct_assets.defs.validate import weather as weather_checks
from ct_assets.defs.validate.assets import validated_flights, validated_weather
from ct_assets.resources import ProfileStoreResource, WarehouseResource
from ct_assets.sources import nycflights13 as source

# Daily whylogs profiles of the feature table: merged over a training window they are the drift
# reference logged with each model; today's is what `feature_drift` compares with it.
FEATURE_PROFILE = "flight_features"


def profile_feature_days(conn, store: ProfileStoreResource, days) -> list:
    """Profile the stored features of each day (that has any) into the profile store."""
    written = []
    for day in days:
        frame = conn.execute("SELECT * FROM flight_features WHERE ds = ?", [day]).df()
        if frame.empty:
            continue
        store.write(FEATURE_PROFILE, day, profiles.profile_frame(frame, features.FEATURE_NAMES))
        written.append(day)
    return written


def _history_days(table: str) -> int:
    """How many days before D the features of D read from `table` (its window's offset)."""
    probe = dt.date(2001, 1, 10)
    lo, _ = features.history_bounds(probe, probe + dt.timedelta(days=1),
                                    source.AVAILABILITY)[table]
    return (probe - lo).days


def _window(offset_days: int) -> dg.TimeWindowPartitionMapping:
    return dg.TimeWindowPartitionMapping(start_offset=-offset_days,
                                         allow_nonexistent_upstream_partitions=True)


FLIGHT_HISTORY_DAYS = max(_history_days("outcomes"), _history_days("departures"))
WEATHER_HISTORY_DAYS = _history_days("weather")
OWN_DAY_CHECKS = [spec.key for spec in (*flight_checks.CHECKS, *weather_checks.CHECKS)]


def refused_days(conn, days: list[dt.date]) -> dict[dt.date, str]:
    """Days of `days` whose features must not be built, with the reason."""
    start, end = days[0], days[-1] + dt.timedelta(days=1)
    flights_failed = status.failed_days(conn, status.FLIGHTS_STATUS, start, end)
    weather_failed = status.failed_days(conn, status.WEATHER_STATUS, start, end)
    flights_ok = set(status.passed_days(conn, status.FLIGHTS_STATUS, start, end))
    weather_ok = set(status.passed_days(conn, status.WEATHER_STATUS, start, end))
    refused = {}
    for day in days:
        reasons = []
        if day in flights_failed:
            reasons.append(f"flights failed validation ({flights_failed[day]})")
        elif day not in flights_ok:
            reasons.append("flights not validated")
        if day in weather_failed:
            reasons.append(f"weather failed validation ({weather_failed[day]})")
        elif day not in weather_ok:
            reasons.append("no validated weather")
        if reasons:
            refused[day] = "; ".join(reasons)
    return refused


def history_gaps(conn, day: dt.date) -> tuple[list[dt.date], list[dt.date]]:
    """(missing, excluded) history days of the flights window that day's features read: not
    validated yet, or failed validation (both left out of the rates)."""
    start = day - dt.timedelta(days=FLIGHT_HISTORY_DAYS)
    passed = set(status.passed_days(conn, status.FLIGHTS_STATUS, start, day))
    failed = status.failed_days(conn, status.FLIGHTS_STATUS, start, day)
    # the partitions' days among them (a bound check: Dagster's `has_partition_key` parses
    # each key and builds the partitions' time window for it)
    first, end = daily_partitions.start.date(), daily_partitions.end.date()
    window = list(day_range(max(start, first), min(day, end)))
    return ([d for d in window if d not in passed and d not in failed],
            [d for d in window if d in failed])


@dg.asset(
    group_name="features",
    partitions_def=daily_partitions,
    backfill_policy=SINGLE_RUN,
    pool=WAREHOUSE_POOL,
    output_required=False,
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(days=1)),
    deps=[
        dg.AssetDep(validated_flights, partition_mapping=_window(FLIGHT_HISTORY_DAYS)),
        dg.AssetDep(validated_weather, partition_mapping=_window(WEATHER_HISTORY_DAYS)),
        reference_tables,
    ],
    kinds={"duckdb"},
    automation_condition=fresh_with_history([validated_flights, validated_weather],
                                            OWN_DAY_CHECKS),
)
def flight_features(context: dg.AssetExecutionContext, warehouse_db: WarehouseResource,
                    profile_store: ProfileStoreResource):
    """Features of each validated flight of the day, as known one hour before its scheduled
    departure: origin weather (the newest report available then), plane age, carrier and
    route delay rates of the 28 newest published days, the origin's departure delays of the
    last two hours, calendar. Keyed by (ds, carrier, flight, origin); the label lives apart in
    `flight_labels`. A day whose flights or weather failed validation is refused alone, with
    its reason; a history day that is missing or failed is left out and named."""
    start, end, days = run_days(context)
    availability = source.AVAILABILITY
    with warehouse_db.connect() as conn:
        refused = refused_days(conn, days)
        good = [d for d in days if d not in refused]
        if good:
            conn.execute("CREATE OR REPLACE TEMP TABLE feature_targets AS "
                         "SELECT * FROM validated_flights WHERE list_contains(?, ds)", [good])
            with warehouse.transaction(conn):
                warehouse.replace_partitions(
                    conn, "flight_features",
                    features.feature_sql("feature_targets", availability), start, end,
                    params=features.feature_params(start, end, availability))
        elif warehouse.table_exists(conn, "flight_features"):
            # Refused days keep no features from before: nothing downstream may use them.
            conn.execute("DELETE FROM flight_features WHERE ds >= ? AND ds < ?", [start, end])
        if not good:
            yield from emit_days(context, {}, refused)
            return
        columns = schema_of(conn, "flight_features")
        shares = {row[0]: row[1:] for row in conn.execute(
            "SELECT ds, count(*), avg((wx_temp IS NULL)::INT), "
            "avg((origin_dep_delay_2h IS NULL)::INT), "
            "avg((carrier_delay_rate_28d IS NULL)::INT) FROM flight_features "
            "WHERE ds >= ? AND ds < ? GROUP BY ds", [start, end]).fetchall()}
        gaps = {day: history_gaps(conn, day) for day in good}
        preview = conn.execute("SELECT * FROM flight_features WHERE ds >= ? AND ds < ? "
                               "LIMIT 5", [start, end]).df()
        profiled = profile_feature_days(conn, profile_store, good)
    per_day = {}
    for day in good:
        rows, no_wx, no_rt, no_rates = shares.get(day, (0, 0, 0, 0))
        missing, excluded = gaps[day]
        if missing:
            context.log.warning(f"features {day}: history day(s) not validated yet, left out: "
                                + ", ".join(map(str, missing)))
        per_day[day] = {
            "dagster/row_count": int(rows),
            "share_without_weather": round(float(no_wx or 0), 4),
            "share_without_recent_departures": round(float(no_rt or 0), 4),
            "share_without_rate_history": round(float(no_rates or 0), 4),
            "history_days_missing": ", ".join(map(str, missing)) or "none",
            "history_days_excluded": ", ".join(map(str, excluded)) or "none",
        }
    descriptions = {f.name: f.description for f in features.FEATURES}
    context.log.info(f"{sum(m['dagster/row_count'] for m in per_day.values())} feature rows "
                     f"for {len(good)} day(s)")
    yield from emit_days(context, per_day, refused, shared={
        "dagster/column_schema": table_schema(columns, descriptions),
        "profiled_days": len(profiled),
        "availability": dg.MetadataValue.json(availability.describe()),
        "preview": dg.MetadataValue.md(preview.to_markdown(index=False)),
    })


@dg.asset(
    group_name="features",
    partitions_def=daily_partitions,
    backfill_policy=SINGLE_RUN,
    pool=WAREHOUSE_POOL,
    deps=[validated_flights],
    kinds={"duckdb"},
    automation_condition=fresh_when_upstream_is(),
)
def flight_labels(context: dg.AssetExecutionContext,
                  warehouse_db: WarehouseResource) -> dg.MaterializeResult:
    """The label of each validated flight, `is_delayed = arr_delay > 15` (null when the flight
    never arrived), kept apart from the features: it is known only after the flight lands."""
    start, end, _ = run_days(context)
    with warehouse_db.connect() as conn:
        conn.execute("CREATE OR REPLACE TEMP TABLE label_targets AS "
                     "SELECT * FROM validated_flights WHERE ds >= ? AND ds < ?", [start, end])
        with warehouse.transaction(conn):
            rows = warehouse.replace_partitions(conn, "flight_labels",
                                                features.label_sql("label_targets"), start, end)
        delayed, unknown = conn.execute(
            "SELECT avg(is_delayed::INT), avg((is_delayed IS NULL)::INT) FROM flight_labels "
            "WHERE ds >= ? AND ds < ?", [start, end]).fetchall()[0]
        columns = schema_of(conn, "flight_labels")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": rows,
        "dagster/column_schema": table_schema(columns),
        "delayed_share": round(float(delayed or 0), 4),
        "unknown_outcome_share": round(float(unknown or 0), 4),
    })
