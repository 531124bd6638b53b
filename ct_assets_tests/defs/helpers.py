import contextlib
import datetime as dt

import dagster as dg
import duckdb
import pytest

from ct_assets.definitions import ASSETS, build_resources
from ct_assets.settings import Settings
from ct_assets.sources import nycflights13 as source
from ct_assets_tests.conftest import land, land_days


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
    """What the landing sensor and automation do, run directly for a range of landed days."""
    materialize(settings, instance, ["raw_flights", "raw_weather", "flight_profile"],
                days=(days[0], days[-1]))
    materialize(settings, instance, ["reference_tables"])
    materialize(settings, instance, ["validated_flights", "validated_weather"],
                days=(days[0], days[-1]))


def fresh_instance(on_disk: bool = False) -> dg.DagsterInstance:
    """An instance for in-process runs: ephemeral, its event log an in-memory SQLite (several
    times cheaper per Dagster event than a test instance's files), unless `on_disk` (a test
    instance in a temporary folder, for runs in other processes)."""
    return dg.instance_for_test() if on_disk else dg.DagsterInstance.ephemeral()


@contextlib.contextmanager
def processed_days(tmp_path_factory, name: str, n: int, *, features: bool = True,
                   on_disk: bool = False):
    """A module's own data dir and instance (`fresh_instance`) with the first `n` days of 2013
    landed, ingested and validated (and featurised): yields (settings, instance, days)."""
    patch = pytest.MonkeyPatch()
    patch.setenv("CT_DATA_DIR", str(tmp_path_factory.mktemp(name) / "data"))
    patch.delenv("MLFLOW_TRACKING_URI", raising=False)
    try:
        settings = Settings.from_env()
        days = land_days(settings, n)
        with fresh_instance(on_disk) as instance:
            ingest_and_validate(settings, instance, days)
            if features:
                materialize(settings, instance, ["flight_features", "flight_labels"],
                            days=(days[0], days[-1]))
            yield settings, instance, days
    finally:
        patch.undo()


def query(settings: Settings, sql: str, params=None):
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


DELAY_SHIFT_MIN = 90


def land_real_day(settings: Settings, day: dt.date, delayed: bool = False) -> None:
    """Land a real day; `delayed`: a shift in the world, not in the feed (validation accepts
    it: delays are what the model learns from), that moves the real-time delay features."""
    flights = source.day_frame("flights", day)
    land(settings, day, table="weather")
    land(settings, day, source.delayed_departures(flights, DELAY_SHIFT_MIN) if delayed
         else flights)
