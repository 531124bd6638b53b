"""Point-in-time correctness of the feature definitions."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ct_assets.bench.features import compare, duckdb_features, warehouse_in_memory, year_frames
from ct_assets.core import features

DAY = dt.date(2013, 2, 12)
KEY = ["ds", "carrier", "flight", "origin"]


@pytest.fixture(scope="module")
def frames():
    flights, weather, planes = year_frames()
    lo, hi = dt.date(2013, 1, 1), dt.date(2013, 2, 14)
    flights = flights[(flights["ds"] >= lo) & (flights["ds"] < hi)].reset_index(drop=True)
    weather = weather[(weather["ds"] >= lo) & (weather["ds"] < hi)].reset_index(drop=True)
    return flights, weather, planes


def features_of_day(flights, weather, planes, day=DAY) -> pd.DataFrame:
    conn = warehouse_in_memory(flights, weather, planes)
    out = duckdb_features(conn, day, day + dt.timedelta(days=1)).to_pandas()
    return out.set_index(KEY[1:]).sort_index()


def dep_ts(flights: pd.DataFrame) -> pd.Series:
    return (flights["time_hour"] + pd.to_timedelta(flights["minute"], unit="min")
            + pd.to_timedelta(flights["dep_delay"], unit="min"))


def test_altering_anything_after_the_cutoff_changes_nothing(frames):
    """The leakage test: for sampled flights of DAY, scramble every datum that was not known at
    the flight's cutoff; the flight's features must not move."""
    flights, weather, planes = frames
    baseline = features_of_day(flights, weather, planes)
    rng = np.random.default_rng(7)
    sample = baseline.sample(12, random_state=3)
    for key, row in sample.iterrows():
        cutoff = row["cutoff_ts"]
        f, w = flights.copy(), weather.copy()
        later_wx = w["time_hour"] > cutoff
        for col in ("temp", "dewp", "humid", "wind_speed", "precip", "pressure", "visib"):
            w.loc[later_wx, col] = rng.normal(0, 100, later_wx.sum())
        later_dep = (dep_ts(f) >= cutoff) | f["dep_delay"].isna()
        f.loc[later_dep & f["dep_delay"].notna(), "dep_delay"] += 300
        unpublished = f["ds"] >= DAY - dt.timedelta(days=1)   # batches not out at the cutoff
        f.loc[unpublished, "arr_delay"] = rng.normal(60, 200, unpublished.sum())
        after = features_of_day(f, w, planes).loc[key]
        pd.testing.assert_series_equal(after, row, check_names=False)


def test_the_leakage_test_would_catch_a_leak(frames):
    """Control: the same kind of change *before* the cutoff does move the features."""
    flights, weather, planes = frames
    baseline = features_of_day(flights, weather, planes)
    key, row = next(baseline.iterrows())
    w = weather.copy()
    known = (w["origin"] == key[2]) & (w["time_hour"] <= row["cutoff_ts"])
    w.loc[known, "temp"] += 40
    assert features_of_day(flights, w, planes).loc[key, "wx_temp"] == row["wx_temp"] + 40


def _one_flight(hour_utc: int, minute: int, **extra) -> dict:
    ts = pd.Timestamp(2013, 3, 10, hour_utc)
    base = {"ds": dt.date(2013, 3, 10), "year": 2013, "month": 3, "day": 10, "carrier": "UA",
            "flight": 1, "origin": "EWR", "dest": "ORD", "tailnum": "N1", "distance": 719,
            "hour": 5, "minute": minute, "time_hour": ts, "dep_delay": 0.0, "arr_delay": 0.0}
    base.update(extra)
    return base


def _weather(*stamps, origin="EWR") -> pd.DataFrame:
    rows = [{"ds": dt.date(2013, 3, 10), "origin": origin, "time_hour": pd.Timestamp(s),
             "temp": float(i), "dewp": 0.0, "humid": 0.0, "wind_dir": 0.0, "wind_speed": 0.0,
             "wind_gust": None, "precip": 0.0, "pressure": 1000.0, "visib": 10.0}
            for i, s in enumerate(stamps)]
    return pd.DataFrame(rows)


PLANES = pd.DataFrame({"tailnum": ["N1"], "year": [2001], "seats": [150]})


def _target(flights, weather) -> pd.Series:
    frame = features_of_day(pd.DataFrame(flights), weather, PLANES, dt.date(2013, 3, 10))
    return frame.loc[("UA", 1, "EWR")]


def test_weather_exactly_at_the_cutoff_is_used():
    # departure 10:00 UTC, cutoff 09:00; observations 08:00 (temp 0), 09:00 (1), 10:00 (2)
    row = _target([_one_flight(10, 0)], _weather("2013-03-10 08:00", "2013-03-10 09:00",
                                                 "2013-03-10 10:00"))
    assert row["wx_temp"] == 1 and row["wx_age_min"] == 0


def test_weather_older_than_the_tolerance_is_null_not_stale():
    row = _target([_one_flight(10, 0)], _weather("2013-03-10 05:59"))
    assert pd.isna(row["wx_temp"]) and pd.isna(row["wx_age_min"])
    row = _target([_one_flight(10, 0)], _weather("2013-03-10 06:00"))
    assert row["wx_temp"] == 0 and row["wx_age_min"] == 180


def test_weather_of_another_origin_is_never_borrowed():
    row = _target([_one_flight(10, 0)], _weather("2013-03-10 09:00", origin="JFK"))
    assert pd.isna(row["wx_temp"])


def test_realtime_window_is_two_hours_before_the_cutoff_exclusive_of_the_cutoff():
    # target departs 12:00 UTC -> cutoff 11:00, window [09:00, 11:00)
    others = [
        _one_flight(8, 0, flight=2, dep_delay=59.0),     # 08:59 actual: before the window
        _one_flight(9, 0, flight=3, dep_delay=10.0),     # 09:00: first instant inside
        _one_flight(10, 30, flight=4, dep_delay=20.0),   # 10:50 actual: inside
        _one_flight(10, 0, flight=5, dep_delay=60.0),    # 11:00 actual: at the cutoff, unknown
        _one_flight(10, 50, flight=6, dep_delay=None),   # cancelled: no departure event
    ]
    row = _target([_one_flight(12, 0), *others], _weather("2013-03-10 11:00"))
    assert row["origin_departures_2h"] == 2
    assert row["origin_dep_delay_2h"] == pytest.approx(15.0)


def test_first_day_without_history_has_null_rates_not_zero(frames):
    flights, weather, planes = frames
    first = features_of_day(flights, weather, planes, dt.date(2013, 1, 1))
    assert first["carrier_delay_rate_28d"].isna().all()
    assert (first["carrier_flights_28d"] == 0).all()
    third = features_of_day(flights, weather, planes, dt.date(2013, 1, 3))
    assert third["carrier_delay_rate_28d"].notna().all()   # Jan 1 is published by then
    jan1 = flights[flights["ds"] == dt.date(2013, 1, 1)]
    assert third["carrier_flights_28d"].max() == jan1.groupby("carrier")["arr_delay"].count().max()


def test_plane_age_and_calendar():
    row = _target([_one_flight(10, 0)], _weather("2013-03-10 09:00"))
    assert row["plane_age"] == 12 and row["plane_seats"] == 150
    assert row["day_of_week"] == 7 and row["is_weekend"] == 1 and row["month"] == 3


def test_features_match_the_pandas_peer_exactly():
    """Two independent implementations of the same definitions agree on real data."""
    assert compare(dt.date(2013, 1, 20), dt.date(2013, 2, 3)) < 1e-9


def test_label_is_kept_apart_and_null_when_the_flight_never_arrived(frames):
    flights, weather, planes = frames
    conn = warehouse_in_memory(flights, weather, planes)
    assert "is_delayed" not in features.FEATURE_NAMES and "arr_delay" not in features.FEATURE_NAMES
    conn.execute("CREATE TEMP TABLE t AS SELECT * FROM validated_flights WHERE ds = ?", [DAY])
    labels = conn.sql(features.label_sql("t")).df()
    day = flights[flights["ds"] == DAY]
    assert len(labels) == len(day)
    assert labels["is_delayed"].isna().sum() == day["arr_delay"].isna().sum()
    assert labels["is_delayed"].sum() == (day["arr_delay"] > 15).sum()


def test_weather_of_a_day_that_failed_its_weather_check_is_never_used():
    # A 01:30 local departure on 2013-03-11 (06:30 UTC): its cutoff (05:30 UTC) falls after the
    # last observation of the 10th (23:00 local = 04:00 UTC).
    flight = _one_flight(6, 30, ds=dt.date(2013, 3, 11), day=11,
                         time_hour=pd.Timestamp(2013, 3, 11, 6))
    weather = _weather("2013-03-11 04:00")
    weather["ds"] = dt.date(2013, 3, 10)
    conn = warehouse_in_memory(pd.DataFrame([flight]), weather, PLANES)
    day = dt.date(2013, 3, 11)
    assert duckdb_features(conn, day, day + dt.timedelta(days=1)).to_pandas()["wx_temp"][0] == 0
    conn.execute("INSERT INTO validation_status VALUES (DATE '2013-03-10', false, "
                 "'weather_feed_consistent', now())")
    out = duckdb_features(conn, day, day + dt.timedelta(days=1)).to_pandas()
    assert pd.isna(out["wx_temp"][0])
