"""Validate: profile each landed day, split its rows into valid and quarantined, and judge the
day as a whole with blocking checks (schema, volume, drift of the feed against 28 days).

Row-level problems never fail a day: the row goes to `quarantined_flights` with its reasons.
Day-level problems fail the blocking checks, which keeps every model and feature window that
would include the day from materializing.
"""

import datetime as dt

import dagster as dg
import pandas as pd

from ct_assets.core import drift, features, profiles, validation, warehouse
from ct_assets.core.days import day_range
from ct_assets.core.errors import CTInputError
from ct_assets.defs.common import (
    SINGLE_RUN,
    WAREHOUSE_POOL,
    fresh_when_upstream_is,
    per_day_markdown,
    run_day,
    run_days,
    schema_of,
    table_schema,
    warehouse_columns,
)
from ct_assets.defs.ingest.assets import raw_flights, raw_weather
from ct_assets.defs.partitions import daily_partitions
from ct_assets.resources import ProfileStoreResource, WarehouseResource
from ct_assets.sources import nycflights13 as source

PROFILE_NAME = "flights"
REFERENCE_DAYS = 28
SPEC = source.flights_spec()
PROFILED_COLUMNS = [c.name for c in SPEC.columns if c.dtype != "timestamp"]
VALIDATED_COLUMNS = warehouse_columns(SPEC, {"_row": "BIGINT"})
QUARANTINE_COLUMNS = warehouse_columns(SPEC, {"_row": "BIGINT", "rules": "VARCHAR",
                                              "reason": "VARCHAR"})
THRESHOLDS = drift.DriftThresholds()


def _raw_rows(conn, day: dt.date) -> pd.DataFrame:
    return conn.execute("SELECT * FROM raw_flights WHERE ds = ? ORDER BY _row", [day]).df()


def _profile_day(conn, profile_store: ProfileStoreResource, day: dt.date):
    """Profile the day's ingested rows and store the profile: (profile, path, rows)."""
    rows = _raw_rows(conn, day)
    view = profiles.profile_frame(rows, PROFILED_COLUMNS)
    return view, profile_store.write(PROFILE_NAME, day, view), len(rows)


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
    """The whylogs profile of the day's landed flights, stored under `profiles/flights/`. Daily
    profiles merge, so the reference of any window is built without rescanning its rows."""
    _, _, days = run_days(context)
    written = []
    with warehouse_db.connect() as conn:
        for day in days:
            _, path, n = _profile_day(conn, profile_store, day)
            written.append({"day": day.isoformat(), "rows": n, "profile": str(path)})
    metadata = {"dagster/row_count": sum(w["rows"] for w in written),
                "profiled_columns": ", ".join(PROFILED_COLUMNS)}
    if len(written) == 1:
        metadata["profile_path"] = dg.MetadataValue.path(written[0]["profile"])
    else:
        metadata["per_day"] = per_day_markdown(pd.DataFrame(written))
    return dg.MaterializeResult(metadata=metadata)


CHECKS = [
    dg.AssetCheckSpec("schema_as_expected", asset="validated_flights", blocking=True,
                      partitions_def=daily_partitions,
                      description="The validated table has exactly the declared columns/types."),
    dg.AssetCheckSpec("row_count_in_range", asset="validated_flights", blocking=True,
                      partitions_def=daily_partitions,
                      description="Validated rows within 0.5x the smallest .. 1.5x the largest "
                                  "of the previous 28 days."),
    dg.AssetCheckSpec("weather_feed_consistent", asset="validated_flights", blocking=True,
                      partitions_def=daily_partitions,
                      description="The day's origin weather landed, and its temperature, dew "
                                  "point and humidity agree physically in most rows (a unit "
                                  "switch breaks that)."),
    dg.AssetCheckSpec("no_feed_anomaly", asset="validated_flights", blocking=True,
                      partitions_def=daily_partitions,
                      description="No feed-integrity column moved against the merged profile "
                                  "of the previous 28 days by more than its effect-size "
                                  "threshold (PSI, null-rate change, unseen categories)."),
]


def _check_schema(conn) -> dg.AssetCheckResult:
    actual = schema_of(conn, "validated_flights")
    expected = {c: t for c, t in VALIDATED_COLUMNS.items()}
    diff = {c: (expected.get(c), actual.get(c)) for c in set(actual) | set(expected)
            if expected.get(c) != actual.get(c)}
    return dg.AssetCheckResult(
        check_name="schema_as_expected", passed=not diff,
        metadata={"differences": dg.MetadataValue.json({k: list(v) for k, v in diff.items()}),
                  "columns": len(actual)},
        description="schema matches" if not diff else f"columns differ: {sorted(diff)}")


WEATHER_MAX_INCONSISTENT_SHARE = 0.5
# Largest jump of a day's mean temperature against the 3 days before it in clean 2013: 27 °F.
WEATHER_MAX_TEMP_JUMP_F = 28.0


def _check_weather(conn, day: dt.date) -> dg.AssetCheckResult:
    """Units and coherence of the day's weather. Two signals, because each alone misses some
    days: temperature, dew point and humidity must agree physically (a unit switch breaks that
    except near saturation), and the day's mean temperature may not jump more than any day of
    2013 did against the 3 days before it (a °F -> °C switch moves it 20-60 °F).
    Over every day of 2013: no false alarm on the real feed, 358 of 361 switched days caught."""
    if not warehouse.table_exists(conn, "raw_weather"):
        rows = pd.DataFrame()
    else:
        rows = conn.execute("SELECT temp, dewp, humid FROM raw_weather WHERE ds = ?",
                            [day]).df()
    if rows.empty:
        return dg.AssetCheckResult(check_name="weather_feed_consistent", passed=False,
                                   description=f"no origin weather ingested for {day}")
    complete = rows.dropna()
    mismatch = source.humidity_mismatch(complete)
    share = float((mismatch > source.WEATHER_MISMATCH_POINTS).mean()) if len(complete) else 1.0
    before = conn.execute("SELECT avg(temp) FROM raw_weather WHERE ds >= ? AND ds < ?",
                          [day - dt.timedelta(days=3), day]).fetchall()[0][0]
    jump = abs(float(rows["temp"].mean()) - before) if before is not None else 0.0
    problems = []
    if share > WEATHER_MAX_INCONSISTENT_SHARE:
        problems.append(f"{share:.0%} of rows have humidity inconsistent with temperature and "
                        f"dew point (> {source.WEATHER_MISMATCH_POINTS:g} points)")
    if jump > WEATHER_MAX_TEMP_JUMP_F:
        problems.append(f"mean temperature moved {jump:.1f} °F against the 3 days before "
                        f"(at most {WEATHER_MAX_TEMP_JUMP_F:g} in real weather)")
    return dg.AssetCheckResult(
        check_name="weather_feed_consistent", passed=not problems,
        metadata={"weather_rows": len(rows), "inconsistent_share": round(share, 4),
                  "temp_jump_f": round(jump, 2)},
        description=("weather coherent" if not problems else
                     "; ".join(problems) + ": units switched or columns mixed up?"))


def _check_row_count(conn, day: dt.date, count: int) -> dg.AssetCheckResult:
    # Days that failed their own checks do not teach what a normal day looks like.
    history = {}
    if warehouse.table_exists(conn, "validation_status"):
        history = dict(conn.execute(
            "SELECT v.ds, count(*) FROM validated_flights v "
            "JOIN validation_status s ON s.ds = v.ds AND s.passed "
            "WHERE v.ds >= ? AND v.ds < ? GROUP BY v.ds",
            [day - dt.timedelta(days=REFERENCE_DAYS), day]).fetchall())
    bounds = validation.expected_row_range(list(history.values()))
    if bounds is None:
        return dg.AssetCheckResult(
            check_name="row_count_in_range", passed=True,
            metadata={"rows": count, "history_days": len(history)},
            description=f"{count} rows; fewer than 7 earlier days to learn a range from")
    low, high = bounds
    ok = low <= count <= high
    return dg.AssetCheckResult(
        check_name="row_count_in_range", passed=ok,
        metadata={"rows": count, "expected_low": round(low), "expected_high": round(high),
                  "history_days": len(history)},
        description=(f"{count} validated rows, expected {low:.0f}..{high:.0f} "
                     f"(learned from {len(history)} earlier days)"))


def _profile_or_rebuild(conn, profile_store: ProfileStoreResource, day: dt.date, log):
    """The day's stored profile; a corrupt or missing one is rebuilt from the day's ingested
    rows (and said so), never silently left out. None only if the day was never ingested."""
    try:
        view = profile_store.read(PROFILE_NAME, day)
        problem = "missing"
    except CTInputError as exc:
        view, problem = None, f"unreadable ({exc.detail})"
    if view is not None:
        return view
    if not conn.execute("SELECT count(*) FROM raw_flights WHERE ds = ?", [day]).fetchall()[0][0]:
        return None
    view, path, n = _profile_day(conn, profile_store, day)
    log.warning(f"profile of {day} was {problem}: rebuilt from its {n} ingested rows into {path}")
    return view


def _check_drift(conn, profile_store: ProfileStoreResource, day: dt.date, log):
    current = _profile_or_rebuild(conn, profile_store, day, log)
    reference, reference_days = None, 0
    for earlier in day_range(day - dt.timedelta(days=REFERENCE_DAYS), day):
        view = _profile_or_rebuild(conn, profile_store, earlier, log)
        if view is not None:
            reference = view if reference is None else reference.merge(view)
            reference_days += 1
    if current is None:
        return dg.AssetCheckResult(check_name="no_feed_anomaly", passed=False,
                                   description=f"no profile and no ingested rows for {day}"), None
    if reference is None:
        return dg.AssetCheckResult(
            check_name="no_feed_anomaly", passed=True,
            description="no earlier days yet: nothing to compare against"), None
    scores = drift.column_drift(reference, current, SPEC, THRESHOLDS)
    integrity = scores[scores["role"] == "integrity"]
    alarms = integrity[integrity["severity"] >= 1]
    table = drift.markdown_table(scores)
    return dg.AssetCheckResult(
        check_name="no_feed_anomaly", passed=alarms.empty,
        metadata={
            "moved_most": dg.MetadataValue.md(table),
            "reference_days": reference_days,
            "max_integrity_severity": float(integrity["severity"].max()),
            "max_monitor_severity": float(scores.loc[scores["role"] == "monitor",
                                                     "severity"].max()),
        },
        description=("feed columns within thresholds" if alarms.empty else
                     "feed anomaly in " + ", ".join(
                         f"{r.column} ({r.metric} severity {r.severity:.2f})"
                         for r in alarms.itertuples()))), table


@dg.asset(
    group_name="validate",
    partitions_def=daily_partitions,
    # Check results are recorded per partition only in single-partition runs, and automation
    # reads them per partition to gate downstream windows, so this asset runs one day per run.
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
    pool=WAREHOUSE_POOL,
    deps=[raw_flights, raw_weather, flight_profile],
    check_specs=CHECKS,
    kinds={"duckdb"},
    automation_condition=fresh_when_upstream_is(),
)
def validated_flights(context: dg.AssetExecutionContext, warehouse_db: WarehouseResource,
                      profile_store: ProfileStoreResource) -> dg.MaterializeResult:
    """The day's flights that pass every row-level rule (types, required values, ranges, known
    airport and carrier codes, date inside the partition, no duplicate flight). The rest go to
    `quarantined_flights` with the rules they broke and a reason; none is dropped."""
    day = run_day(context)
    start, end = day, day + dt.timedelta(days=1)
    with warehouse_db.connect() as conn:
        raw = _raw_rows(conn, day)
        split = validation.split_rows(raw, SPEC, day)
        # Rows, quarantine and the day's verdict commit together: a reader never sees the
        # rows of a day without knowing whether the day passed.
        with warehouse.transaction(conn):
            n_valid = warehouse.replace_partitions(
                conn, "validated_flights", split.valid, start, end, columns=VALIDATED_COLUMNS)
            n_quarantined = warehouse.replace_partitions(
                conn, "quarantined_flights", split.quarantined, start, end,
                columns=QUARANTINE_COLUMNS)
            if n_valid + n_quarantined != len(raw):
                raise dg.Failure(f"{day}: {len(raw)} landed rows but {n_valid} validated + "
                                 f"{n_quarantined} quarantined")
            drift_check, table = _check_drift(conn, profile_store, day, context.log)
            checks = [_check_schema(conn), _check_row_count(conn, day, n_valid),
                      _check_weather(conn, day), drift_check]
            failed = [c.check_name for c in checks if not c.passed]
            status = pd.DataFrame([{"ds": day, "passed": not failed,
                                    "failed_checks": ",".join(failed) or None,
                                    "checked_at": pd.Timestamp.now("UTC").tz_localize(None)}])
            warehouse.replace_partitions(conn, "validation_status", status, start, end,
                                         columns=features.VALIDATION_STATUS_COLUMNS)
    for check in checks:
        if not check.passed:
            context.log.error(f"{day}: blocking check {check.check_name} failed: "
                              f"{check.description}")
    reasons = split.reason_counts()
    if n_quarantined:
        context.log.warning(f"{day}: {n_quarantined} row(s) quarantined: {reasons}")
    examples = split.quarantined[["_row", "reason"]].head(10)
    metadata = {
        "dagster/row_count": n_valid,
        "dagster/column_schema": table_schema(VALIDATED_COLUMNS),
        "landed_rows": len(raw),
        "quarantined_rows": n_quarantined,
        "quarantine_reasons": dg.MetadataValue.json(reasons),
        "moved_most_vs_28d": dg.MetadataValue.md(table or "_no reference yet_"),
    }
    if n_quarantined:
        metadata["quarantine_examples"] = dg.MetadataValue.md(examples.to_markdown(index=False))
    return dg.MaterializeResult(metadata=metadata, check_results=checks)
