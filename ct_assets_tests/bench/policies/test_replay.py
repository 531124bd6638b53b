"""A short replay (Feb 1 .. Feb 19, small models) behaves as the policies say: static keeps its
first model, weekly retrains on Mondays, the production policy retrains only when
`core.policy.decide` asked the day before and learns thresholds within bounds, and every
served day has an AUC."""

import datetime as dt
import math

import pytest

from ct_assets.bench.policies.lab import Lab
from ct_assets.bench.policies.replay import simulate
from ct_assets.bench.train.data import labelled_frame
from ct_assets.core import policy
from ct_assets.core.loop import RetrainSpec
from ct_assets.core.training import TrainParams
from ct_assets.sources.nycflights13 import AVAILABILITY

START, END = dt.date(2013, 2, 1), dt.date(2013, 2, 20)
PARAMS = TrainParams(n_estimators=40)


@pytest.fixture(scope="module")
def replay():
    frame = labelled_frame(RetrainSpec.for_source(AVAILABILITY).window(START)[0], END)
    lab = Lab(frame, params=PARAMS)
    results = simulate(frame, ["static", "weekly", "production"], START, END, lab=lab,
                                gap_days=7)
    return lab, results


def test_every_served_day_has_an_auc_from_the_champion_of_that_morning(replay):
    lab, results = replay
    days = [START + dt.timedelta(days=i) for i in range((END - START).days)]
    for result in results.values():
        assert [s.day for s in result.served] == days
        assert all(not math.isnan(s.auc) and 0.3 < s.auc < 1 and s.n > 200
                   for s in result.served)
        # a day is served by a model trained strictly before it: its labels come later
        assert all(s.model_day <= s.day for s in result.served)
        promoted = {r.day for r in result.retrains if r.promoted}
        assert {s.model_day for s in result.served} <= promoted
    # the window of Feb 1 ends on Jan 30, the last day published before Feb 1's first cutoff
    assert lab.window(dt.date(2013, 2, 1)) == (
        [dt.date(2013, 1, 3) + dt.timedelta(days=i) for i in range(25)],
        [dt.date(2013, 1, 28), dt.date(2013, 1, 29), dt.date(2013, 1, 30)])


def test_static_keeps_its_first_model_counted_as_one_retrain(replay):
    _, results = replay
    static = results["static"]
    assert len(static.retrains) == 1 and static.promotions == 1
    assert static.retrains[0].day == START and static.retrains[0].kinds == ["stale"]
    assert {s.model_day for s in static.served} == {START}
    assert static.cpu_s == pytest.approx(static.retrains[0].fit_cpu_s
                                         + static.retrains[0].gate_cpu_s)
    assert static.cpu_s > 0


def test_weekly_retrains_on_mondays_and_pays_for_each_retrain(replay):
    _, results = replay
    weekly = results["weekly"]
    assert [r.day for r in weekly.retrains] == [START, dt.date(2013, 2, 4),
                                                dt.date(2013, 2, 11), dt.date(2013, 2, 18)]
    assert all(r.kinds == ["scheduled"] for r in weekly.retrains[1:])
    assert all(r.fit_cpu_s > 0 and r.gate_cpu_s > 0 for r in weekly.retrains)
    assert all(r.champion_auc is not None for r in weekly.retrains[1:])
    # the serving model changes exactly on the days of a promotion
    for before, after in zip(weekly.served, weekly.served[1:], strict=False):
        if before.model_day != after.model_day:
            assert after.model_day == after.day


def test_production_retrains_only_when_the_walk_asked_and_learns_within_bounds(replay):
    _, results = replay
    production, static = results["production"], results["static"]
    asked = {s.day + dt.timedelta(days=1): s.requested for s in production.served if s.requested}
    later = production.retrains[1:]
    assert [r.day for r in later] == sorted(asked)
    assert all(r.kinds == asked[r.day] for r in later)
    days = [r.day for r in production.retrains]
    cooldown = policy.PolicyConfig().cooldown_days
    assert all((b - a).days >= cooldown for a, b in zip(days, days[1:], strict=False))
    bounds = policy.Thresholds()
    for r in later:
        drift, perf = r.thresholds_after
        assert bounds.min_drift <= drift <= bounds.max_drift
        assert bounds.min_performance <= perf <= bounds.max_performance
    # the signals are measured against the serving champion: identical while both policies
    # are served by the first model
    for a, s in zip(production.served, static.served, strict=True):
        if a.model_day == s.model_day:
            assert a.drift == pytest.approx(s.drift) and a.drop == pytest.approx(s.drop)
    # the February 8-9 blizzard is the drift of this range
    assert max(s.drift for s in static.served) >= policy.Thresholds().drift
