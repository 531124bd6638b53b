"""Features: the offline feature store, built inside DuckDB with point-in-time joins.

`flight_features` of day D reads validated flights of D-29..D (outcome rates over 28 published
days, and the departures of the last hours for the real-time feature), the origin weather of
D-1..D and the reference planes. How each feature is computed lives in
`ct_assets.core.features`, the same definitions an online store will call.
"""

import datetime as dt

import dagster as dg

from ct_assets.core import features, profiles, warehouse
from ct_assets.defs.common import (
    SINGLE_RUN,
    WAREHOUSE_POOL,
    fresh_when_upstream_is,
    run_days,
    schema_of,
    table_schema,
)
from ct_assets.defs.ingest.assets import raw_weather, reference_tables
from ct_assets.defs.partitions import daily_partitions
from ct_assets.defs.validate.assets import validated_flights
from ct_assets.resources import ProfileStoreResource, WarehouseResource

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


def _window(offset_days: int) -> dg.TimeWindowPartitionMapping:
    return dg.TimeWindowPartitionMapping(start_offset=-offset_days,
                                         allow_nonexistent_upstream_partitions=True)


@dg.asset(
    group_name="features",
    partitions_def=daily_partitions,
    backfill_policy=SINGLE_RUN,
    pool=WAREHOUSE_POOL,
    # Lineage names the day's validated flights; the 28-day history is read from the same
    # table, filtered by `validation_status`. (A window mapping on validated_flights would be
    # the fuller lineage, but in Dagster 1.13 `all_deps_blocking_checks_passed` does not map
    # partitioned check results through a window mapping, so a failed day would not gate.)
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(days=1)),
    deps=[
        validated_flights,
        dg.AssetDep(raw_weather, partition_mapping=_window(1)),
        reference_tables,
    ],
    kinds={"duckdb"},
    automation_condition=fresh_when_upstream_is(),
)
def flight_features(context: dg.AssetExecutionContext, warehouse_db: WarehouseResource,
                    profile_store: ProfileStoreResource) -> dg.MaterializeResult:
    """Features of each validated flight of the day, as known one hour before its scheduled
    departure: origin weather (as-of join), plane age, 28-day carrier and route delay rates,
    the origin's departure delays of the last two hours, calendar. Keyed by
    (ds, carrier, flight, origin); the label lives apart in `flight_labels`."""
    start, end, days = run_days(context)
    history_start = features.history_bounds(start, end)["outcomes"][0]
    with warehouse_db.connect() as conn:
        failed = conn.execute(
            "SELECT ds, failed_checks FROM validation_status WHERE ds >= ? AND ds < ? "
            "AND NOT passed ORDER BY ds", [history_start, end]).fetchall()
        blocked = [f"{d} ({checks})" for d, checks in failed if start <= d < end]
        if blocked:
            raise dg.Failure(
                description="no features for a day whose validation failed its blocking "
                            "checks: " + ", ".join(blocked),
                metadata={"failed_days": ", ".join(blocked)})
        conn.execute("CREATE OR REPLACE TEMP TABLE feature_targets AS "
                     "SELECT * FROM validated_flights WHERE ds >= ? AND ds < ?", [start, end])
        with warehouse.transaction(conn):
            rows = warehouse.replace_partitions(
                conn, "flight_features", features.feature_sql("feature_targets"), start, end,
                params=features.feature_params(start, end))
        columns = schema_of(conn, "flight_features")
        nulls = conn.execute(
            "SELECT avg((wx_temp IS NULL)::INT), avg((origin_dep_delay_2h IS NULL)::INT), "
            "avg((carrier_delay_rate_28d IS NULL)::INT) FROM flight_features "
            "WHERE ds >= ? AND ds < ?", [start, end]).fetchall()[0]
        preview = conn.execute("SELECT * FROM flight_features WHERE ds >= ? AND ds < ? "
                               "LIMIT 5", [start, end]).df()
        profiled = profile_feature_days(conn, profile_store, days)
    descriptions = {f.name: f.description for f in features.FEATURES}
    context.log.info(f"{rows} feature rows for {len(days)} day(s)")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": rows,
        "dagster/column_schema": table_schema(columns, descriptions),
        "share_without_weather": round(float(nulls[0] or 0), 4),
        "share_without_recent_departures": round(float(nulls[1] or 0), 4),
        "share_without_rate_history": round(float(nulls[2] or 0), 4),
        "history_days_excluded": ", ".join(str(d) for d, _ in failed) or "none",
        "profiled_days": len(profiled),
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
