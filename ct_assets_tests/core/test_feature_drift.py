"""The feature drift score on real days: quiet on ordinary days, loud on broken feeds."""

import datetime as dt

import pytest

from ct_assets.bench.train import labelled_frame
from ct_assets.core import feature_drift, profiles
from ct_assets.core.days import day_range
from ct_assets.core.features import FEATURE_NAMES


@pytest.fixture(scope="module")
def window():
    frame = labelled_frame(dt.date(2013, 3, 1), dt.date(2013, 4, 9))
    views = {day: profiles.profile_frame(part, FEATURE_NAMES) for day, part in frame.groupby("ds")}
    train = list(day_range(dt.date(2013, 3, 1), dt.date(2013, 3, 29)))
    merged = views[train[0]]
    for day in train[1:]:
        merged = merged.merge(views[day])
    calibration = feature_drift.calibrate(merged, [views[d] for d in train])
    return frame, views, merged, calibration


def score(window, rows):
    _, _, merged, calibration = window
    view = profiles.profile_frame(rows, FEATURE_NAMES)
    return feature_drift.score(merged, view, calibration)


def test_the_days_after_the_window_stay_below_the_alarm(window):
    _, views, merged, calibration = window
    scores = [feature_drift.summary_score(feature_drift.score(merged, views[d], calibration))
              for d in day_range(dt.date(2013, 3, 29), dt.date(2013, 4, 9))]
    assert max(scores) < 1.5
    assert calibration["wx_pressure"]["psi_limit"] > 0.25      # weather gets its slack
    assert calibration["distance"]["psi_limit"] == 0.25         # the schedule does not


@pytest.mark.parametrize(("column", "change", "signal"), [
    ("wx_pressure", lambda s: s * 0.02953, {"out_of_range", "mean_shift"}),  # mbar → inHg
    ("wx_temp", lambda s: (s - 32) * 5 / 9, {"out_of_range", "mean_shift"}),  # °F → °C
    ("distance", lambda s: s * 2, {"psi"}),
    ("wx_humid", lambda s: s * float("nan"), {"null_rate"}),
])
def test_broken_feeds_alarm_on_the_right_feature(window, column, change, signal):
    frame = window[0]
    day = frame[frame["ds"] == dt.date(2013, 4, 2)].copy()
    day[column] = change(day[column])
    result = score(window, day)
    top = result.iloc[0]
    assert top["column"] == column and top["signal"] in signal
    assert feature_drift.summary_score(result) >= 1.5


def test_a_new_carrier_code_alarms_on_carrier_and_is_counted_as_unseen(window):
    frame = window[0]
    day = frame[frame["ds"] == dt.date(2013, 4, 2)].copy()
    day.loc[day.sample(frac=0.1, random_state=1).index, "carrier"] = "ZZ"
    top = score(window, day).iloc[0]
    assert top["column"] == "carrier" and top["severity"] >= 1.5
    assert top["unseen_share"] == pytest.approx(0.1, rel=0.2)
