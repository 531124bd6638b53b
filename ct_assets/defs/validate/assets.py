"""Validate: profile each landed day, split the rows of both feeds into valid and quarantined,
and judge each day as a whole with blocking checks, a day at a time inside range runs (a
catch-up of N days is one run per range, not N runs).

Row-level problems never fail a day: the row goes to quarantine with its reasons, and
trivially recoverable spellings are repaired and counted. Day-level problems fail a blocking
check of that day alone, which holds back its own features (and every model window that
would include it); the days validated with it go on.
"""

import dagster as dg
import pandas as pd

from ct_assets.defs.common import (
    SINGLE_RUN,
    WAREHOUSE_POOL,
    emit_checked_days,
    fresh_when_upstream_is,
    per_day_markdown,
    run_days,
    table_schema,
)
from ct_assets.defs.ingest.assets import raw_flights, raw_weather
from ct_assets.defs.partitions import daily_partitions
from ct_assets.defs.validate import flights, weather
from ct_assets.resources import ProfileStoreResource, WarehouseResource


@dg.asset(
    group_name="validate",
    partitions_def=daily_partitions,
    backfill_policy=SINGLE_RUN,
    pool=WAREHOUSE_POOL,
    deps=[raw_flights],
    kinds={"whylogs"},
    automation_condition=fresh_when_upstream_is(),
)
def flight_profile(context: dg.AssetExecutionContext, warehouse_db: WarehouseResource,
                   profile_store: ProfileStoreResource) -> dg.MaterializeResult:
    """The whylogs profile of the day's landed flights (codes repaired as validation repairs
    them), stored under `profiles/flights/`. Daily profiles merge, so the reference of any
    window is built without rescanning its rows."""
    _, _, days = run_days(context)
    written = []
    with warehouse_db.connect() as conn:
        for day in days:
            _, path, n = flights.profile_day(conn, profile_store, day)
            written.append({"day": day.isoformat(), "rows": n, "profile": str(path)})
    for item in written:
        context.add_asset_metadata({"dagster/row_count": item["rows"],
                                    "profile_path": dg.MetadataValue.path(item["profile"])},
                                   partition_key=item["day"])
    return dg.MaterializeResult(metadata={"profiled_columns": ", ".join(
        flights.PROFILED_COLUMNS)})


def _day_metadata(result: dict, columns: dict[str, str]) -> dict:
    metadata = {
        "dagster/row_count": result["valid"],
        "dagster/column_schema": table_schema(columns),
        "landed_rows": result["landed"],
        "quarantined_rows": result["quarantined"],
        "quarantine_reasons": dg.MetadataValue.json(result["reasons"]),
        "repairs": dg.MetadataValue.json(result["repairs"]),
        "checks_failed": ", ".join(c.check_name for c in result["checks"] if not c.passed)
                         or "none",
    }
    if result["quarantined"]:
        metadata["quarantine_examples"] = dg.MetadataValue.md(
            result["examples"].to_markdown(index=False))
    return metadata


def _log_day(context, table: str, result: dict) -> None:
    day = result["day"]
    for check in result["checks"]:
        if not check.passed:
            context.log.error(f"{table} {day}: blocking check {check.check_name} failed: "
                              f"{check.description}")
    if result["quarantined"]:
        context.log.warning(f"{table} {day}: {result['quarantined']} row(s) quarantined: "
                            f"{result['reasons']}")
    if result["repairs"]:
        context.log.info(f"{table} {day}: values repaired: {result['repairs']}")


def _summary(results: list[dict]) -> dict:
    frame = pd.DataFrame([{
        "day": r["day"].isoformat(), "landed": r["landed"], "validated": r["valid"],
        "quarantined": r["quarantined"], "repaired": sum(r["repairs"].values()),
        "failed_checks": ", ".join(c.check_name for c in r["checks"] if not c.passed) or "",
    } for r in results])
    return {"per_day": per_day_markdown(frame),
            "days_failed": int((frame["failed_checks"] != "").sum())}


@dg.asset(
    group_name="validate",
    partitions_def=daily_partitions,
    backfill_policy=SINGLE_RUN,
    pool=WAREHOUSE_POOL,
    deps=[raw_flights, flight_profile],
    check_specs=flights.CHECKS,
    kinds={"duckdb"},
    automation_condition=fresh_when_upstream_is(),
)
def validated_flights(context: dg.AssetExecutionContext, warehouse_db: WarehouseResource,
                      profile_store: ProfileStoreResource):
    """The day's flights that pass every row-level rule (types, required values, ranges, known
    airport and carrier codes, date inside the partition, no duplicate flight), after the
    trivially recoverable spellings are repaired (codes in lower case or padded: counted in
    `repairs`). The rest go to `quarantined_flights` with the rules they broke and a reason;
    none is dropped. Each day's blocking checks are recorded on that day."""
    _, _, days = run_days(context)
    results = []
    with warehouse_db.connect() as conn:
        reference = flights.FeedReference(conn, profile_store, context.log)
        for day in days:          # in order: each day's references see the days before it
            results.append(flights.validate_day(conn, profile_store, day, context.log,
                                                reference))
    for result in results:
        _log_day(context, "flights", result)
    per_day = {}
    for r in results:
        per_day[r["day"]] = _day_metadata(r, flights.VALIDATED_COLUMNS) | {
            "moved_most_vs_28d": dg.MetadataValue.md(r["drift_table"] or "_no reference yet_")}
    yield from emit_checked_days(context, per_day, {r["day"]: r["checks"] for r in results},
                                 shared=_summary(results))


@dg.asset(
    group_name="validate",
    partitions_def=daily_partitions,
    backfill_policy=SINGLE_RUN,
    pool=WAREHOUSE_POOL,
    deps=[raw_weather],
    check_specs=weather.CHECKS,
    kinds={"duckdb"},
    automation_condition=fresh_when_upstream_is(),
)
def validated_weather(context: dg.AssetExecutionContext, warehouse_db: WarehouseResource):
    """The day's hourly origin weather reports that pass every row-level rule (declared
    physical ranges, known origins, date inside the partition, one report per origin and
    hour); the rest go to `quarantined_weather` with reasons. A day delivered in other units
    (pressure in inHg, temperature in °C, wind in km/h) or without usable reports fails a
    blocking check, and no feature reads its weather."""
    _, _, days = run_days(context)
    with warehouse_db.connect() as conn:
        results = [weather.validate_day(conn, day) for day in days]
    for result in results:
        _log_day(context, "weather", result)
    per_day = {r["day"]: _day_metadata(r, weather.VALIDATED_COLUMNS) for r in results}
    yield from emit_checked_days(context, per_day, {r["day"]: r["checks"] for r in results},
                                 shared=_summary(results))
