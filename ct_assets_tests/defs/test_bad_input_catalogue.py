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
from ct_assets_tests.defs.helpers import fresh_instance, materialize, processed_days, query


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


def real_weather(day):
    return source.day_frame("weather", day)


def lower_codes(column, share):
    def change(frame):
        frame = frame.copy()
        rows = frame.index[:: int(1 / share)]
        frame.loc[rows, column] = frame.loc[rows, column].str.lower()
        return frame
    return change


def scaled(**factors):
    def change(frame):
        frame = frame.copy()
        for column, factor in factors.items():
            frame[column] = frame[column] * factor
        return frame
    return change


def celsius(frame):
    return frame.assign(temp=(frame["temp"] - 32) * 5 / 9, dewp=(frame["dewp"] - 32) * 5 / 9)


# Weather deliveries: ("check", name, words in the description) fails that blocking check of
# validated_weather (and refuses the day's features); ("quarantine", rules) passes the day.
WEATHER_CASES = {
    "pressure in inHg": (scaled(pressure=1 / 33.86),
                         ("check", "weather_units_consistent", "values outside [900, 1100] hPa")),
    "temperature in Celsius": (celsius, ("check", "weather_units_consistent",
                                         "temp: ")),
    "wind in km/h": (scaled(wind_speed=1.609344, wind_gust=1.609344),
                     ("check", "weather_units_consistent", "wind_speed: 0% of")),
    "one report out of physical range": (set_values("wind_speed", [3], 1048.4),
                                         ("quarantine", {"range": 1})),
    "a duplicated report": (lambda f: pd.concat([f, f.iloc[:2]], ignore_index=True),
                            ("quarantine", {"duplicate": 2})),
    "an origin code in lower case": (lower_codes("origin", 0.1), ("quarantine", {})),
    "an origin without reports": (lambda f: f[f["origin"] != "LGA"].reset_index(drop=True),
                                  ("check", "weather_present", "LGA (0)")),
}
WEATHER_FIRST = dt.date(2013, 1, 28)


def check_result(result, name):
    return next(e.event_specific_data for e in result.all_events
                if e.event_type_value == "ASSET_CHECK_EVALUATION"
                and e.event_specific_data.check_name == name)


@pytest.mark.parametrize("name", list(WEATHER_CASES))
def test_each_bad_weather_delivery(history, name):
    settings, instance = history
    day = WEATHER_FIRST + dt.timedelta(days=list(WEATHER_CASES).index(name))
    breaker, expected = WEATHER_CASES[name]
    delivered = breaker(real_weather(day))
    path = land(settings, day, delivered, table="weather")
    digest = landing.checksum(path)
    materialize(settings, instance, ["raw_weather"], day=day)
    result = materialize(settings, instance, ["validated_weather"], day=day)
    valid, quarantined = query(settings, "SELECT (SELECT count(*) FROM validated_weather WHERE "
                                         "ds = ?), (SELECT count(*) FROM quarantined_weather "
                                         "WHERE ds = ?)", [day, day])[0]
    assert valid + quarantined == len(delivered)
    assert landing.checksum(path) == digest, "the landed file was modified"
    passed = query(settings, "SELECT passed FROM weather_validation_status WHERE ds = ?",
                   [day])[0][0]
    if expected[0] == "check":
        _, check, words = expected
        evaluation = check_result(result, check)
        assert not evaluation.passed and words in evaluation.description
        assert evaluation.partition == day.isoformat() and passed is False
        # Features never read that day's weather: the day's features are refused, with why.
        land(settings, day)
        materialize(settings, instance, ["raw_flights", "flight_profile", "validated_flights"],
                    day=day)
        refused = materialize(settings, instance, ["flight_features"], day=day,
                              raise_on_error=False)
        failure = next(e for e in refused.all_events if e.event_type_value == "STEP_FAILURE")
        message = failure.step_failure_data.user_failure_data.description
        assert f"{day}: weather failed validation (" in message and check in message
    else:
        rules = dict(query(settings, "SELECT rules, count(*) FROM quarantined_weather "
                                     "WHERE ds = ? GROUP BY rules", [day]))
        assert rules == expected[1] and passed is True
        if rules:
            reason = query(settings, "SELECT reason FROM quarantined_weather WHERE ds = ? "
                                     "LIMIT 1", [day])[0][0]
            assert reason                                  # every quarantine says why


def test_codes_in_lower_case_or_padded_are_repaired_counted_and_kept(history):
    settings, instance = history
    day = dt.date(2013, 2, 5)
    delivered = lower_codes("origin", 0.1)(real(day))
    delivered.loc[[2, 7], "carrier"] = " " + delivered.loc[[2, 7], "carrier"] + " "
    path = land(settings, day, delivered)
    land(settings, day, table="weather")
    digest = landing.checksum(path)
    materialize(settings, instance, ["raw_flights", "raw_weather", "flight_profile"], day=day)
    result = materialize(settings, instance, ["validated_flights", "validated_weather"],
                         day=day)
    lowered = int(real(day)["origin"].iloc[::10].size)
    meta = {k: v.value for k, v in next(
        e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"
        and e.asset_key.path[-1] == "validated_flights").event_specific_data.materialization
        .metadata.items()}
    assert meta["repairs"] == {"origin: upper-cased": lowered,
                               "carrier: surrounding blanks removed": 2}
    assert meta["quarantined_rows"] == 0 and meta["dagster/row_count"] == len(delivered)
    assert all(check_result(result, c).passed
               for c in ("schema_as_expected", "row_count_in_range", "no_feed_anomaly"))
    origins = dict(query(settings, "SELECT origin, count(*) FROM validated_flights WHERE ds = ? "
                                   "GROUP BY origin", [day]))
    assert set(origins) == {"EWR", "JFK", "LGA"}
    assert landing.checksum(path) == digest
    raw = query(settings, "SELECT count(*) FROM raw_flights WHERE ds = ? AND origin <> "
                          "upper(origin)", [day])[0][0]
    assert raw == lowered                              # the raw table keeps what was delivered


def test_a_tenth_of_the_volume_fails_the_blocking_check_and_blocks_training(history):
    settings, instance = history
    day = dt.date(2013, 1, 11)
    land(settings, day, real(day).iloc[::10])
    land(settings, day, table="weather")
    materialize(settings, instance, ["raw_flights", "raw_weather", "flight_profile"], day=day)
    materialize(settings, instance, ["validated_flights"], day=day)
    status = query(settings, "SELECT passed, failed_checks FROM validation_status WHERE ds = ?",
                   [day])
    assert status[0][0] is False and "row_count_in_range" in status[0][1]
    import duckdb

    from ct_assets.defs.train import data

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        with pytest.raises(data.WindowNotReady, match="failed blocking checks: 2013-01-11"):
            data.check_window(conn, dt.date(2013, 1, 5), dt.date(2013, 1, 12))


def test_a_relanded_day_refreshes_the_features_of_every_later_day_that_read_it(settings):
    """A day delivered again (a correction: some flights were missing) is re-ingested and
    re-validated; automation then re-materializes its features and those of every later day
    whose history window read it, and their rates count the corrected day."""
    from ct_assets.definitions import build_defs
    from ct_assets_tests.conftest import land_days
    from ct_assets_tests.defs.test_sensors_automation import requested, run_requested

    days = land_days(settings, 5)
    fixed = days[1]
    path = landing.landed_path(settings.landing_dir, "flights", fixed)
    path.unlink()
    first_delivery = real(fixed)
    land(settings, fixed, first_delivery.drop(index=first_delivery.index[::20]))  # 5% missing
    defs = build_defs(settings)
    with fresh_instance() as instance:
        materialize(settings, instance, ["reference_tables"])
        materialize(settings, instance, ["raw_flights", "raw_weather", "flight_profile",
                                         "validated_flights", "validated_weather"],
                    days=(days[0], days[-1]))
        first = run_requested(settings, instance, defs)
        assert requested(first, "flight_features") == {d.isoformat() for d in days}
        before = query(settings, "SELECT max(carrier_flights_28d) FROM flight_features "
                                 "WHERE ds = ?", [days[4]])[0][0]
        quiet = run_requested(settings, instance, defs, first.cursor)
        path.unlink()
        land(settings, fixed)                                  # the corrected delivery
        materialize(settings, instance, ["raw_flights", "flight_profile", "validated_flights"],
                    day=fixed)
        refresh = run_requested(settings, instance, defs, quiet.cursor)
        assert requested(refresh, "flight_features") == {d.isoformat() for d in days[1:]}
        after = query(settings, "SELECT max(carrier_flights_28d) FROM flight_features "
                                "WHERE ds = ?", [days[4]])[0][0]
        assert after > before                     # day 5's rates now count the whole day 2
