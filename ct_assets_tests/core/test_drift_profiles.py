import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ct_assets.core import drift, profiles
from ct_assets.sources import nycflights13 as source

SPEC = source.flights_spec()
COLUMNS = [c.name for c in SPEC.columns if c.dtype != "timestamp"]
DAYS = [dt.date(2013, 3, 1) + dt.timedelta(days=i) for i in range(29)]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    root = tmp_path_factory.mktemp("profiles")
    for day in DAYS[:-1]:
        profiles.write_profile(root, "flights", day,
                               profiles.profile_frame(source.day_frame("flights", day), COLUMNS))
    return root


def reference(root):
    return profiles.merge_window(root, "flights", DAYS[0], DAYS[-1]).view


def today(**changes) -> pd.DataFrame:
    frame = source.day_frame("flights", DAYS[-1])
    for column, value in changes.items():
        frame[column] = value(frame) if callable(value) else value
    return frame


def scores_for(root, frame):
    return drift.column_drift(reference(root), profiles.profile_frame(frame, COLUMNS), SPEC)


def integrity_alarms(scores) -> set[str]:
    hit = scores[(scores["role"] == "integrity") & (scores["severity"] >= 1)]
    return set(hit["column"])


def test_merged_window_counts_every_row_without_rescanning(stored):
    window = profiles.merge_window(stored, "flights", DAYS[0], DAYS[-1] + dt.timedelta(days=3))
    expected = sum(len(source.day_frame("flights", d)) for d in DAYS[:-1])
    counts = window.view.get_column("distance").get_metric("counts").to_summary_dict()
    assert counts["n"] == expected
    assert len(window.days) == 28 and len(window.missing) == 3


def test_an_ordinary_day_raises_no_feed_alarm(stored):
    scores = scores_for(stored, today())
    assert integrity_alarms(scores) == set()
    assert scores.loc[scores["role"] == "integrity", "severity"].max() < 1


@pytest.mark.parametrize("change,column", [
    ({"distance": lambda f: f["distance"] * 2}, "distance"),
    ({"carrier": None}, "carrier"),
    ({"carrier": lambda f: f["carrier"].where(f.index % 3 > 0, "ZZ")}, "carrier"),
    ({"hour": lambda f: (f["hour"] + 6) % 24}, "hour"),
])
def test_injected_feed_faults_are_caught_by_effect_size(stored, change, column):
    scores = scores_for(stored, today(**change))
    assert column in integrity_alarms(scores)
    table = drift.markdown_table(scores)
    assert table.splitlines()[2].startswith(f"| {column} |") or column in table


def test_a_stormy_day_moves_delays_without_blocking_the_feed(stored):
    scores = scores_for(stored, today(dep_delay=lambda f: f["dep_delay"] + 90,
                                      arr_delay=lambda f: f["arr_delay"] + 90))
    monitored = scores.set_index("column").loc[["dep_delay", "arr_delay"], "severity"]
    assert (monitored >= 1).all()
    assert integrity_alarms(scores) == set()


def test_a_corrupt_profile_is_an_error_naming_the_file(stored):
    bad_day = dt.date(2013, 6, 1)
    path = profiles.profile_path(stored, "flights", bad_day)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a profile")
    with pytest.raises(ValueError, match="profile_readable") as err:
        profiles.read_profile(stored, "flights", bad_day)
    assert str(path) in str(err.value)


def test_a_sliding_window_merges_to_what_merging_its_days_gives():
    rng = np.random.default_rng(0)
    days = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(12)]
    views = {d: None if i in (3, 4) else profiles.profile_frame(  # two days that do not count
        pd.DataFrame({"x": rng.normal(i, 1, 50 + i), "c": rng.choice(["a", "b"], 50 + i)}),
        ["x", "c"]) for i, d in enumerate(days)}
    width, window = 5, profiles.SlidingMerge()
    for i, day in enumerate(days):
        if i >= width:
            assert window.pop() == days[i - width]
        window.push(day, views[day])
        assert window.days() == days[max(0, i - width + 1):i + 1]
        direct = None
        for d in window.days():
            if views[d] is not None:
                direct = views[d] if direct is None else direct.merge(views[d])
        merged = window.merged()
        got = merged.get_column("x").to_summary_dict()
        want = direct.get_column("x").to_summary_dict()
        assert got["counts/n"] == want["counts/n"] == sum(
            50 + days.index(d) for d in window.days() if views[d] is not None)
        # every value is in (the sketch is exact at this size): the same quantiles
        for q in ("distribution/min", "distribution/q_25", "distribution/median",
                  "distribution/max"):
            assert got[q] == want[q], q
        assert got["distribution/mean"] == pytest.approx(want["distribution/mean"])
