"""Ten consecutive real days through Dagster, into a temporary data dir and instance."""

import datetime as dt

import dagster as dg
import pandas as pd
import pytest

from ct_assets.core import landing
from ct_assets.sources import nycflights13 as source
from ct_assets_tests.conftest import JAN1, land
from ct_assets_tests.defs.helpers import ingest_and_validate, materialize, processed_days, query

TEN = [JAN1 + dt.timedelta(days=i) for i in range(10)]


def metadata(instance, asset: str, day: dt.date | None = None) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset),
                              asset_partitions=[day.isoformat()] if day else None), limit=1)
    mat = records.records[0].asset_materialization
    return {k: v.value for k, v in mat.metadata.items()}


@pytest.fixture(scope="module")
def ten_days(tmp_path_factory):
    with processed_days(tmp_path_factory, "ten", 10) as (settings, instance, _):
        yield settings, instance


def test_every_landed_row_is_validated_or_quarantined(ten_days):
    settings, _ = ten_days
    landed = {d: len(pd.read_parquet(landing.landed_path(settings.landing_dir, "flights", d)))
              for d in TEN}
    valid = dict(query(settings, "SELECT ds, count(*) FROM validated_flights GROUP BY ds"))
    quarantined = dict(query(settings, "SELECT ds, count(*) FROM quarantined_flights GROUP BY ds"))
    assert {d: valid.get(d, 0) + quarantined.get(d, 0) for d in TEN} == landed
    assert sum(landed.values()) == 8832


def test_features_and_labels_cover_each_validated_flight_once(ten_days):
    settings, _ = ten_days
    per_day = query(settings, """
        SELECT v.ds, count(*), count(DISTINCT f.carrier || f.flight || f.origin), count(l.ds)
        FROM validated_flights v
        LEFT JOIN flight_features f USING (ds, carrier, flight, origin)
        LEFT JOIN flight_labels l USING (ds, carrier, flight, origin)
        GROUP BY v.ds ORDER BY v.ds""")
    assert [r[0] for r in per_day] == TEN
    assert all(n == distinct == labels for _, n, distinct, labels in per_day)


def test_every_partitioned_table_has_a_ds_date_column(ten_days):
    settings, _ = ten_days
    tables = ["raw_flights", "raw_weather", "validated_flights", "quarantined_flights",
              "flight_features", "flight_labels", "landed_files"]
    types = dict(query(settings, "SELECT table_name, data_type FROM information_schema.columns "
                                 "WHERE column_name = 'ds'"))
    assert {t: types.get(t) for t in tables} == {t: "DATE" for t in tables}


def check_status(instance, asset: str, check: str, day: dt.date) -> str | None:
    """The recorded status of one check on one day (what the UI shows per partition)."""
    from dagster._core.event_api import PartitionKeyFilter

    found = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey(asset), check)],
        partition_filter=PartitionKeyFilter(key=day.isoformat()))
    return next(iter(found.values())).status.value if found else None


def test_ui_metadata_row_counts_schema_and_checks(ten_days):
    settings, instance = ten_days
    meta = metadata(instance, "validated_flights", TEN[-1])
    assert meta["dagster/row_count"] == 932 and meta["quarantined_rows"] == 0
    assert "| column |" in meta["moved_most_vs_28d"]
    assert [c.name for c in meta["dagster/column_schema"].columns][:3] == ["ds", "year", "month"]
    # Validated in one range run, each day carries its own row count and check results.
    counts = [metadata(instance, "flight_features", day)["dagster/row_count"] for day in TEN]
    assert sum(counts) == 8832 and counts[-1] == 932
    assert metadata(instance, "flight_features", TEN[-1])["share_without_weather"] < 0.01
    for day in TEN:
        for check in ("schema_as_expected", "row_count_in_range", "no_feed_anomaly"):
            assert check_status(instance, "validated_flights", check, day) == "SUCCEEDED"
        for check in ("weather_present", "weather_units_consistent"):
            assert check_status(instance, "validated_weather", check, day) == "SUCCEEDED"


def test_rematerializing_is_idempotent(ten_days):
    settings, instance = ten_days
    tables = ["flight_features", "raw_flights", "landed_files"]
    counts = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in tables)
    before = query(settings, counts)
    materialize(settings, instance, ["flight_features"], day=TEN[4])
    materialize(settings, instance, ["raw_flights"], day=TEN[4])
    assert query(settings, counts) == before
    assert query(settings, "SELECT count(*) FROM raw_flights WHERE ds = ?", [TEN[4]])[0][0] == 720


def test_bad_rows_are_quarantined_with_reasons_visible_in_the_ui(ten_days):
    settings, instance = ten_days
    day = dt.date(2013, 1, 11)
    frame = pd.concat([source.day_frame("flights", day),
                       source.day_frame("flights", day).iloc[:3]], ignore_index=True)
    frame.loc[5, "dest"] = "QQQ"
    frame.loc[6, "distance"] = -3
    land(settings, day, frame)
    land(settings, day, table="weather")
    ingest_and_validate(settings, instance, [day])
    meta = metadata(instance, "validated_flights", day)
    assert meta["quarantined_rows"] == 5
    assert meta["quarantine_reasons"] == {"allowed_values": 1, "range": 1, "duplicate": 3}
    assert meta["dagster/row_count"] + meta["quarantined_rows"] == len(frame)
    assert "QQQ is not a known code" in meta["quarantine_examples"]


def test_a_broken_file_fails_only_its_partition_and_stays_untouched(ten_days):
    settings, instance = ten_days
    day = dt.date(2013, 1, 12)
    path = landing.landed_path(settings.landing_dir, "flights", day)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not parquet")
    digest = landing.checksum(path)
    result = materialize(settings, instance, ["raw_flights"], day=day, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.error.message
    assert "partition 2013-01-12" in message and str(path) in message
    assert "parquet_readable" in message
    assert landing.checksum(path) == digest
    assert query(settings, "SELECT count(*) FROM raw_flights WHERE ds = ?", [day])[0][0] == 0
    assert query(settings, "SELECT count(*) FROM raw_flights WHERE ds = ?", [TEN[0]])[0][0] == 842


def test_a_day_with_a_tenth_of_the_volume_fails_its_blocking_check(ten_days):
    settings, instance = ten_days
    day = dt.date(2013, 1, 13)
    land(settings, day, source.day_frame("flights", day).iloc[::10])
    land(settings, day, table="weather")
    materialize(settings, instance, ["raw_flights", "raw_weather", "flight_profile"], day=day)
    result = materialize(settings, instance, ["validated_flights"], day=day)
    # The run records the day and its verdict; the failed check holds back only its own
    # downstream (the run of a range with one bad day must not fail the good ones).
    evaluation = next(e for e in result.all_events
                      if e.event_type_value == "ASSET_CHECK_EVALUATION"
                      and e.event_specific_data.check_name == "row_count_in_range")
    assert not evaluation.event_specific_data.passed
    assert evaluation.event_specific_data.partition == day.isoformat()
    assert "expected" in evaluation.event_specific_data.description
    assert check_status(instance, "validated_flights", "row_count_in_range", day) == "FAILED"


def test_no_features_for_a_day_that_failed_validation(ten_days):
    settings, instance = ten_days
    day = dt.date(2013, 1, 13)   # failed row_count_in_range in the test above, or here
    land(settings, day, source.day_frame("flights", day).iloc[::10])
    land(settings, day, table="weather")
    materialize(settings, instance, ["raw_flights", "raw_weather", "flight_profile"], day=day)
    materialize(settings, instance, ["validated_flights"], day=day, raise_on_error=False)
    result = materialize(settings, instance, ["flight_features"], day=day, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "2013-01-13: flights failed validation (row_count_in_range" in \
        failure.step_failure_data.user_failure_data.description


def test_a_corrupt_or_missing_reference_profile_is_rebuilt_not_skipped(ten_days):
    settings, instance = ten_days
    corrupt = settings.profiles_dir / "flights" / "2013-01-03.bin"
    corrupt.write_bytes(b"garbage")
    missing = settings.profiles_dir / "flights" / "2013-01-04.bin"
    missing.unlink()
    materialize(settings, instance, ["validated_flights"], day=TEN[-1])
    meta = metadata(instance, "validated_flights", TEN[-1])
    assert meta["dagster/row_count"] == 932
    check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("validated_flights"), "no_feed_anomaly")])
    record = next(iter(check.values()))
    assert record.event.dagster_event.event_specific_data.metadata["reference_days"].value == 9
    from ct_assets.core import profiles

    assert profiles.read_profile(settings.profiles_dir, "flights", TEN[2]) is not None
    assert missing.exists()
