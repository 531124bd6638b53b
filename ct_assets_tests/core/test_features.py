"""Point-in-time correctness of the feature definitions.

The leakage tests never reuse the join code: they evaluate each source's declared availability
(`sources/nycflights13.AVAILABILITY`) on their own, in pandas, decide from it which history
rows were unknown at a flight's cutoff, scramble those rows, and check the features did not
move; a positive control and a leaky join prove they would notice.
"""

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ct_assets.bench.features import compare, duckdb_features, warehouse_in_memory, year_frames
from ct_assets.core import features
from ct_assets.sources.nycflights13 import AVAILABILITY

DAY = dt.date(2013, 2, 12)
KEY = ["ds", "carrier", "flight", "origin"]
WX_COLUMNS = ["temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip",
              "pressure", "visib"]


@pytest.fixture(scope="module")
def frames():
    flights, weather, planes = year_frames()
    lo, hi = dt.date(2013, 1, 1), dt.date(2013, 2, 14)
    flights = flights[(flights["ds"] >= lo) & (flights["ds"] < hi)].reset_index(drop=True)
    weather = weather[(weather["ds"] >= lo) & (weather["ds"] < hi)].reset_index(drop=True)
    return flights, weather, planes


def features_of_day(flights, weather, planes, day=DAY, availability=AVAILABILITY
                    ) -> pd.DataFrame:
    conn = warehouse_in_memory(flights, weather, planes)
    conn.execute("CREATE OR REPLACE TEMP TABLE t AS SELECT * FROM validated_flights "
                 "WHERE ds >= ? AND ds < ?", [day, day + dt.timedelta(days=1)])
    out = conn.sql(features.feature_sql("t", availability),
                   params=features.feature_params(day, day + dt.timedelta(days=1),
                                                  availability)).df()
    return out.set_index(KEY[1:]).sort_index()


# --- availability, evaluated here from the declarations alone ---------------------------------

def weather_known_at(weather: pd.DataFrame) -> pd.Series:
    rule = AVAILABILITY.weather
    return weather[rule.base] + rule.offset


def departure_known_at(flights: pd.DataFrame) -> pd.Series:
    rule = AVAILABILITY.departures
    ts = flights[rule.base]
    for col in rule.minute_columns:
        ts = ts + pd.to_timedelta(flights[col], unit="min")
    return ts


def outcome_published_at(flights: pd.DataFrame) -> pd.Series:
    """Local time each flight's outcome was published (its day's batch)."""
    return pd.to_datetime(flights["ds"]) + AVAILABILITY.outcomes.published_after


def scramble_unknown(flights, weather, cutoff_utc, cutoff_local, rng):
    """Copies of the history with every row unknown at the cutoff scrambled, all columns."""
    f, w = flights.copy(), weather.copy()
    later_wx = (weather_known_at(w) > cutoff_utc).to_numpy()
    for col in WX_COLUMNS:
        w.loc[later_wx, col] = rng.uniform(-500, 500, later_wx.sum())
    not_departed = ((departure_known_at(f) >= cutoff_utc) | f["dep_delay"].isna()).to_numpy()
    moved = not_departed & f["dep_delay"].notna().to_numpy()
    f.loc[moved, "dep_delay"] += rng.integers(60, 600, moved.sum())   # still after the cutoff
    f.loc[moved, "dep_time"] = rng.integers(1, 2400, moved.sum())
    unpublished = (outcome_published_at(f) > cutoff_local).to_numpy()
    for col in ("arr_delay", "arr_time", "air_time"):
        f.loc[unpublished, col] = rng.normal(60, 200, unpublished.sum()).round()
    return f, w, int(later_wx.sum()), int(moved.sum()), int(unpublished.sum())


def _cutoffs(row) -> tuple[pd.Timestamp, pd.Timestamp]:
    """A sampled flight's cutoff in UTC and in local time (scheduled departure - 1 h)."""
    local = (pd.Timestamp(DAY) + pd.Timedelta(hours=int(row["sched_hour"]))
             + pd.Timedelta(minutes=int(row["_minute"])) - pd.Timedelta(hours=features.CUTOFF_H))
    return row["cutoff_ts"], local


def _sample(flights, baseline, n, seed):
    day = flights[flights["ds"] == DAY].set_index(KEY[1:])
    sample = baseline.sample(n, random_state=seed)
    sample = sample.assign(_minute=day.loc[sample.index, "minute"].to_numpy())
    return sample


def moved_flights(flights, weather, planes, sample, availability=AVAILABILITY) -> list:
    rng = np.random.default_rng(7)
    moved = []
    for key, row in sample.iterrows():
        cutoff_utc, cutoff_local = _cutoffs(row)
        f, w, *_ = scramble_unknown(flights, weather, cutoff_utc, cutoff_local, rng)
        after = features_of_day(f, w, planes, availability=availability).loc[key]
        if not after.equals(row.drop("_minute")):
            moved.append(key)
    return moved


def test_scrambling_every_row_unknown_at_the_cutoff_moves_no_feature(frames):
    """The leakage test: for sampled flights, scramble every history row whose declared
    availability is after the flight's cutoff (weather: all nine columns; departures not yet
    made: delay and time; outcomes not yet published: arrival delay, time, air time)."""
    flights, weather, planes = frames
    baseline = features_of_day(flights, weather, planes)
    sample = _sample(flights, baseline, 12, seed=3)
    rng = np.random.default_rng(0)
    cutoff_utc, cutoff_local = _cutoffs(sample.iloc[0])
    *_, n_wx, n_dep, n_out = scramble_unknown(flights, weather, cutoff_utc, cutoff_local, rng)
    assert n_wx > 0 and n_dep > 0 and n_out > 0          # each kind of row was scrambled
    assert moved_flights(flights, weather, planes, sample) == []


def test_a_join_that_ignores_availability_is_caught(frames):
    """The same test against a join that treats a weather row as known at its label time
    (HH:00 instead of HH:51): flights whose cutoff falls between the two move."""
    flights, weather, planes = frames
    leaky = dataclasses.replace(
        AVAILABILITY, weather=dataclasses.replace(AVAILABILITY.weather, offset=dt.timedelta(0)))
    baseline = features_of_day(flights, weather, planes, availability=leaky)
    sample = _sample(flights, baseline, 12, seed=3)
    assert len(moved_flights(flights, weather, planes, sample, availability=leaky)) >= 6


def test_changing_a_row_known_at_the_cutoff_moves_the_features(frames):
    """Positive control: the newest weather row available at the cutoff, a departure made
    before it and a published outcome each move the features when changed."""
    flights, weather, planes = frames
    baseline = features_of_day(flights, weather, planes)
    key, row = next(baseline[baseline["origin_departures_2h"] > 0].iterrows())
    known = (weather["origin"] == key[2]) & (weather_known_at(weather) <= row["cutoff_ts"])
    newest = weather_known_at(weather[known]).idxmax()
    w = weather.copy()
    w.loc[newest, ["temp", "wind_dir", "wind_gust"]] = [150.0, 7.0, 99.0]
    after = features_of_day(flights, w, planes).loc[key]
    assert (after["wx_temp"], after["wx_wind_dir"], after["wx_wind_gust"]) == (150.0, 7.0, 99.0)

    f = flights.copy()
    made = ((f["origin"] == key[2]) & (departure_known_at(f) < row["cutoff_ts"])
            & (departure_known_at(f) >= row["cutoff_ts"] - pd.Timedelta(hours=2)))
    f.loc[made, "dep_delay"] -= 1        # one minute earlier: still inside the window
    assert features_of_day(f, weather, planes).loc[key, "origin_dep_delay_2h"] == \
        pytest.approx(row["origin_dep_delay_2h"] - 1)

    f = flights.copy()
    published = (f["carrier"] == key[0]) & (f["ds"] == DAY - dt.timedelta(days=2))
    f.loc[published, "arr_delay"] = 500.0
    assert features_of_day(f, weather, planes).loc[key, "carrier_delay_rate_28d"] > \
        row["carrier_delay_rate_28d"]


def test_no_weather_value_comes_from_a_row_unknown_at_the_cutoff(frames):
    """Direct check over every flight of ten days: the weather values of each flight are those
    of the newest row of its origin whose declared availability is at or before its cutoff."""
    flights, weather, planes = frames
    days = [dt.date(2013, 1, 3) + dt.timedelta(days=i) for i in range(10)]
    conn = warehouse_in_memory(flights, weather, planes)
    conn.execute("CREATE TEMP TABLE t AS SELECT * FROM validated_flights WHERE ds >= ? AND "
                 "ds < ?", [days[0], days[-1] + dt.timedelta(days=1)])
    out = conn.sql(features.feature_sql("t", AVAILABILITY),
                   params=features.feature_params(days[0], days[-1] + dt.timedelta(days=1),
                                                  AVAILABILITY)).df()
    out = out[out["wx_temp"].notna()]
    assert len(out) > 8000
    known = weather.assign(known_at=weather_known_at(weather))
    checked = 0
    for origin, group in out.groupby("origin"):
        obs = known[known["origin"] == origin].sort_values("known_at")
        at = obs["known_at"].searchsorted(group["cutoff_ts"], side="right") - 1
        assert (at >= 0).all()
        chosen = obs.iloc[at]
        assert (chosen["known_at"].to_numpy() <= group["cutoff_ts"].to_numpy()).all()
        for col in WX_COLUMNS:
            mine, theirs = group[f"wx_{col}"].to_numpy(), chosen[col].to_numpy()
            same = (mine == theirs) | (pd.isna(mine) & pd.isna(theirs))
            assert same.all(), (origin, col)
        ages = (group["cutoff_ts"] - chosen["known_at"].to_numpy()).dt.total_seconds() / 60
        assert (group["wx_age_min"].to_numpy() == ages.to_numpy()).all()
        checked += len(group)
    assert checked == len(out)


def test_training_labels_are_published_before_the_first_cutoff_of_the_served_day():
    """A model serving D may learn from outcomes published before D's first cutoff (a
    departure at 00:00 has its cutoff at 23:00 the evening before): D-1's batch comes out at
    06:00 on D, so the newest labelled day is D-2."""
    day = dt.date(2013, 3, 10)
    assert features.published_through(day, AVAILABILITY) == dt.date(2013, 3, 8)
    published = AVAILABILITY.outcomes.published_at(dt.date(2013, 3, 9))
    assert published > dt.datetime(2013, 3, 9, 23)


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


def test_weather_known_exactly_at_the_cutoff_is_used_and_its_age_counts_from_hh51():
    # a row labelled HH:00 is known at HH:51. Departure 10:51 UTC, cutoff 09:51: the 09:00 row
    # (temp 1) became known at that very minute; the 10:00 row (temp 2) is still unknown.
    row = _target([_one_flight(10, 51)], _weather("2013-03-10 08:00", "2013-03-10 09:00",
                                                  "2013-03-10 10:00"))
    assert row["wx_temp"] == 1 and row["wx_age_min"] == 0
    # departure 10:50: the 09:00 report is a minute short of known, so the 08:00 one serves
    row = _target([_one_flight(10, 50)], _weather("2013-03-10 08:00", "2013-03-10 09:00"))
    assert row["wx_temp"] == 0 and row["wx_age_min"] == 59


def test_weather_older_than_the_tolerance_is_null_not_stale():
    # cutoff 08:51; a row known 181 minutes before it is too old, 180 minutes is not
    row = _target([_one_flight(9, 51)], _weather("2013-03-10 04:59"))
    assert pd.isna(row["wx_temp"]) and pd.isna(row["wx_age_min"])
    row = _target([_one_flight(9, 51)], _weather("2013-03-10 05:00"))
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
    # Jan 2's batch comes out at 06:00 on Jan 3: flights whose cutoff is earlier (scheduled
    # before 07:00) count Jan 1 only, the later ones Jan 1 and Jan 2.
    counts = flights[flights["ds"] <= dt.date(2013, 1, 2)].groupby(["ds", "carrier"])[
        "arr_delay"].count().unstack(0, fill_value=0)
    early = third[third["sched_hour"] < 7]
    late = third[third["sched_hour"] >= 7]
    assert len(early) > 50 and len(late) > 500
    def expected(per_carrier, rows):
        return per_carrier.reindex(rows.index.get_level_values(0), fill_value=0).to_numpy()

    assert (early["carrier_flights_28d"] == expected(counts[dt.date(2013, 1, 1)], early)).all()
    assert (late["carrier_flights_28d"] == expected(counts.sum(axis=1), late)).all()


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
    conn.execute("INSERT INTO weather_validation_status VALUES (DATE '2013-03-10', false, "
                 "'weather_units', now())")
    out = duckdb_features(conn, day, day + dt.timedelta(days=1)).to_pandas()
    assert pd.isna(out["wx_temp"][0])
