import datetime as dt

import dagster as dg
import duckdb

from ct_assets.definitions import ASSETS, build_resources
from ct_assets.settings import Settings


def range_tags(start: dt.date, end_inclusive: dt.date) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": start.isoformat(),
            "dagster/asset_partition_range_end": end_inclusive.isoformat()}


def materialize(settings: Settings, instance, selection: list[str], *, day=None,
                days: tuple[dt.date, dt.date] | None = None, raise_on_error: bool = True):
    kwargs = {"partition_key": day.isoformat()} if day else {}
    if days:
        kwargs["tags"] = range_tags(*days)
    return dg.materialize(ASSETS, selection=selection, instance=instance,
                          resources=build_resources(settings), raise_on_error=raise_on_error,
                          **kwargs)


def ingest_and_validate(settings: Settings, instance, days: list[dt.date]) -> None:
    """What the landing sensor and automation do, run directly for a set of landed days."""
    materialize(settings, instance, ["raw_flights", "raw_weather", "flight_profile"],
                days=(days[0], days[-1]))
    materialize(settings, instance, ["reference_tables"])
    for day in days:
        materialize(settings, instance, ["validated_flights"], day=day)


def query(settings: Settings, sql: str, params=None):
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()
