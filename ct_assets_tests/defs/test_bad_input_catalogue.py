"""The catalogue of corrupt deliveries, each landed through the landing path and materialized
through Dagster: a clear failure naming file, partition and rule, or a quarantine with reasons;
landed rows = validated + quarantined; the landed file untouched; other days unaffected."""

import datetime as dt
import io

import pandas as pd
import pytest

from ct_assets.core import landing
from ct_assets.sources import nycflights13 as source
from ct_assets_tests.conftest import land
from ct_assets_tests.defs.helpers import materialize, processed_days, query


def real(day):
    return source.day_frame("flights", day)


def parquet_bytes(frame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def strings_in(column, rows):
    def change(frame):
        frame = frame.astype({column: object})
        frame.loc[rows, column] = "n/a"
        frame[column] = frame[column].map(lambda v: None if pd.isna(v) else str(v))
        return frame
    return change


def set_values(column, rows, value):
    def change(frame):
        frame = frame.copy()
        frame.loc[rows, column] = value
        return frame
    return change


# name: (day offset, how the delivery is broken, expected: ("fail", rule) or ("quarantine", {}))
CASES = {
    "truncated parquet": (lambda f: parquet_bytes(f)[: len(parquet_bytes(f)) // 2],
                          ("fail", "parquet_readable")),
    "zero-byte file": (lambda f: b"", ("fail", "parquet_readable")),
    "csv named .parquet": (lambda f: f.to_csv(index=False).encode(),
                           ("fail", "parquet_readable")),
    "missing column": (lambda f: f.drop(columns=["arr_delay"]), ("fail", "columns_present")),
    "renamed column": (lambda f: f.rename(columns={"origin": "from"}),
                       ("fail", "unexpected columns ['from'] (renamed?)")),
    "strings in dep_delay throughout": (lambda f: f.assign(dep_delay="late"),
                                        ("fail", "column_type")),
    "a few strings in dep_delay": (strings_in("dep_delay", [4, 9]),
                                   ("quarantine", {"type": 2})),
    "nulls in a required column": (set_values("carrier", [1, 2, 3], None),
                                   ("quarantine", {"not_null": 3})),
    "out-of-range values": (set_values("distance", [5], -10), ("quarantine", {"range": 1})),
    "duplicated rows": (lambda f: pd.concat([f, f.iloc[:4]], ignore_index=True),
                        ("quarantine", {"duplicate": 4})),
    "rows from another day": (set_values("day", [0, 1], 28),
                              ("quarantine", {"partition_date": 2})),
    "extra column": (lambda f: f.assign(gate="B7"), ("quarantine", {})),
}
FIRST = dt.date(2013, 1, 15)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    with processed_days(tmp_path_factory, "catalogue", 10, features=False) as (settings,
                                                                             instance, _):
        yield settings, instance


@pytest.mark.parametrize("name", list(CASES))
def test_each_bad_delivery(history, name):
    settings, instance = history
    day = FIRST + dt.timedelta(days=list(CASES).index(name))
    breaker, (kind, expected) = CASES[name]
    delivered = breaker(real(day))
    path = landing.landed_path(settings.landing_dir, "flights", day)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(delivered, bytes):
        path.write_bytes(delivered)
    else:
        landing.write_new(path, delivered)
    land(settings, day, table="weather")
    digest = landing.checksum(path)
    clean_before = query(settings, "SELECT count(*) FROM validated_flights WHERE ds < ?",
                         [FIRST])

    raw = materialize(settings, instance, ["raw_flights", "raw_weather", "flight_profile"],
                      day=day, raise_on_error=False)
    if kind == "fail":
        assert not raw.success
        failure = next(e for e in raw.all_events if e.event_type_value == "STEP_FAILURE")
        message = failure.step_failure_data.error.message
        assert expected in message and f"partition {day}" in message and str(path) in message
    else:
        assert raw.success
        materialize(settings, instance, ["validated_flights"], day=day)
        landed = len(delivered)
        valid, quarantined = query(settings, "SELECT (SELECT count(*) FROM validated_flights "
                                             "WHERE ds = ?), (SELECT count(*) FROM "
                                             "quarantined_flights WHERE ds = ?)", [day, day])[0]
        assert valid + quarantined == landed
        reasons = query(settings, "SELECT rules, count(*) FROM quarantined_flights WHERE ds = ? "
                                  "GROUP BY rules", [day])
        assert dict(reasons) == expected
    assert landing.checksum(path) == digest, "the landed file was modified"
    assert query(settings, "SELECT count(*) FROM validated_flights WHERE ds < ?",
                 [FIRST]) == clean_before


def test_a_weather_feed_that_switched_units_fails_its_day(history):
    settings, instance = history
    day = dt.date(2013, 1, 12)
    weather = source.day_frame("weather", day)
    weather["temp"] = (weather["temp"] - 32) * 5 / 9     # Celsius, still labelled temp
    weather["dewp"] = (weather["dewp"] - 32) * 5 / 9
    land(settings, day)
    land(settings, day, weather, table="weather")
    materialize(settings, instance, ["raw_flights", "raw_weather", "flight_profile"], day=day)
    result = materialize(settings, instance, ["validated_flights"], day=day,
                         raise_on_error=False)
    assert not result.success
    check = next(e.event_specific_data for e in result.all_events
                 if e.event_type_value == "ASSET_CHECK_EVALUATION"
                 and e.event_specific_data.check_name == "weather_feed_consistent")
    assert not check.passed and "units switched" in check.description
    refused = materialize(settings, instance, ["flight_features"], day=day, raise_on_error=False)
    assert not refused.success


def test_a_tenth_of_the_volume_fails_the_blocking_check_and_blocks_training(history):
    settings, instance = history
    day = dt.date(2013, 1, 11)
    land(settings, day, real(day).iloc[::10])
    land(settings, day, table="weather")
    materialize(settings, instance, ["raw_flights", "raw_weather", "flight_profile"], day=day)
    assert not materialize(settings, instance, ["validated_flights"], day=day,
                           raise_on_error=False).success
    status = query(settings, "SELECT passed, failed_checks FROM validation_status WHERE ds = ?",
                   [day])
    assert status[0][0] is False and "row_count_in_range" in status[0][1]
    import duckdb

    from ct_assets.defs.train import data

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        with pytest.raises(data.WindowNotReady, match="failed blocking checks: 2013-01-11"):
            data.check_window(conn, dt.date(2013, 1, 5), dt.date(2013, 1, 12))
