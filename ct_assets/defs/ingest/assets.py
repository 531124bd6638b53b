"""Ingest: each landed daily file becomes the partition of a raw warehouse table, as delivered.

Values are typed as the source declares them; a value that does not parse is nulled and noted
in `_issues` (validation quarantines that row with the original value). A file that cannot be
read as the declared table fails its partition with a message naming file, partition and rule;
the landed file itself is never touched.
"""

import datetime as dt
from pathlib import Path

import dagster as dg
import pandas as pd

from ct_assets.core import ingest, landing, warehouse
from ct_assets.core.errors import CTInputError
from ct_assets.core.schema import TableSpec
from ct_assets.defs.common import (
    SINGLE_RUN,
    WAREHOUSE_POOL,
    emit_days,
    run_days,
    table_schema,
    warehouse_columns,
)
from ct_assets.defs.partitions import daily_partitions
from ct_assets.resources import LandingResource, WarehouseResource
from ct_assets.sources import nycflights13 as source

RAW_EXTRA_COLUMNS = {"_row": "BIGINT", "_issues": "VARCHAR"}
LANDED_FILES_COLUMNS = {
    "ds": "DATE", "source_table": "VARCHAR", "path": "VARCHAR", "sha256": "VARCHAR",
    "rows": "BIGINT", "extra_columns": "VARCHAR", "ingested_at": "TIMESTAMP",
}


def _ingest_day(conn, table: str, spec: TableSpec, path: Path, day: dt.date) -> dict:
    loaded = ingest.read_landed(path, spec, day.isoformat())
    frame = loaded.frame
    frame.insert(0, "ds", day)
    digest = landing.checksum(path)
    record = pd.DataFrame([{
        "ds": day, "source_table": table, "path": str(path), "sha256": digest,
        "rows": len(frame), "extra_columns": ",".join(loaded.extra_columns) or None,
        "ingested_at": pd.Timestamp.now("UTC").tz_localize(None),
    }])
    next_day = day + dt.timedelta(days=1)
    with warehouse.transaction(conn):
        warehouse.replace_partitions(conn, f"raw_{table}", frame, day, next_day,
                                     columns=warehouse_columns(spec, RAW_EXTRA_COLUMNS))
        conn.execute("CREATE TABLE IF NOT EXISTS landed_files ("
                     + ", ".join(f"{c} {t}" for c, t in LANDED_FILES_COLUMNS.items()) + ")")
        conn.execute("DELETE FROM landed_files WHERE ds = ? AND source_table = ?", [day, table])
        conn.register("_landed_record", record)
        conn.execute("INSERT INTO landed_files BY NAME SELECT * FROM _landed_record")
        conn.unregister("_landed_record")
    return {
        "day": day.isoformat(), "rows": len(frame),
        "unparsed_values": int(frame["_issues"].notna().sum()), "sha256": digest[:16],
        "extra_columns": ", ".join(loaded.extra_columns) or "",
        "retyped_columns": ", ".join(f"{k} ({v})" for k, v in loaded.coerced_columns.items()),
        "path": str(path),
    }


def build_raw_asset(table: str, spec_fn) -> dg.AssetsDefinition:
    spec = spec_fn()
    columns = warehouse_columns(spec, RAW_EXTRA_COLUMNS)

    @dg.asset(
        name=f"raw_{table}",
        group_name="ingest",
        partitions_def=daily_partitions,
        backfill_policy=SINGLE_RUN,
        pool=WAREHOUSE_POOL,
        output_required=False,
        kinds={"duckdb", "parquet"},
        description=(
            f"The landed {table} file of the day, loaded as delivered into the warehouse table "
            f"`raw_{table}` (typed, with the file's row number). Requested by the landing sensor "
            "whenever a new or changed file lands. A file that cannot be read as the declared "
            "table fails its own day only."
        ),
    )
    def raw_asset(context: dg.AssetExecutionContext, landing_folder: LandingResource,
                  warehouse_db: WarehouseResource):
        _, _, days = run_days(context)
        done, refused = [], {}
        with warehouse_db.connect() as conn:
            for day in days:
                try:
                    done.append(_ingest_day(conn, table, spec, landing_folder.path(table, day),
                                            day))
                except CTInputError as exc:
                    refused[day] = str(exc)
        for item in done:
            if item["unparsed_values"]:
                context.log.warning(f"{table} {item['day']}: {item['unparsed_values']} row(s) "
                                    "with values that do not parse; they will be quarantined")
        per_day = {dt.date.fromisoformat(d["day"]): {
            "dagster/row_count": d["rows"],
            "landed_file": dg.MetadataValue.path(d["path"]),
            "sha256": d["sha256"],
            "unparsed_values": d["unparsed_values"],
            "extra_columns": d["extra_columns"] or "none",
            "retyped_columns": d["retyped_columns"] or "none",
        } for d in done}
        yield from emit_days(context, per_day, refused,
                             shared={"dagster/column_schema": table_schema(columns)})

    return raw_asset


raw_flights = build_raw_asset("flights", source.flights_spec)
raw_weather = build_raw_asset("weather", source.weather_spec)


@dg.asset(
    group_name="ingest",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb"},
    automation_condition=dg.AutomationCondition.missing() & ~dg.AutomationCondition.in_progress(),
)
def reference_tables(warehouse_db: WarehouseResource) -> dg.MaterializeResult:
    """Slowly changing reference data of the source (planes for plane age, airports), loaded
    into `ref_planes` and `ref_airports`. Unpartitioned: it describes the fleet, not a day."""
    tables = source.reference_tables()
    with warehouse_db.connect() as conn:
        counts = {name: warehouse.replace_table(conn, name, frame)
                  for name, frame in tables.items()}
    return dg.MaterializeResult(metadata={
        "dagster/row_count": sum(counts.values()),
        **{f"rows_{name}": n for name, n in counts.items()},
    })
