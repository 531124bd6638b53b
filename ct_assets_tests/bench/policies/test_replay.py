"""A short replay (Feb 1 .. Feb 19, small models) behaves as the policies say: static keeps its
first model, weekly retrains on Mondays, a triggered policy retrains only when the walk asked
the day before and learns thresholds within bounds from the shadow scores of its candidates,
and every served day has an AUC and the signals production reads."""

import datetime as dt
import math

import pytest

from ct_assets.bench.policies.lab import Lab
from ct_assets.bench.policies.replay import Replay
from ct_assets.bench.policies.specs import production_spec
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
    # a triggered policy that retrains often: refit gain and drift at low thresholds
    eager = production_spec("eager", refit=0.0, drift=0.6, cooldown_days=2, feedback_days=3,
                            min_gain=0.05)
    replay = Replay(lab, ["static", "weekly-mon", eager], START, gap_days=7)
    replay.run(END)
    return lab, replay.results, replay.signals("eager")


def test_every_served_day_has_an_auc_from_the_champion_of_that_morning(replay):
    lab, results, _ = replay
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
    _, results, _ = replay
    static = results["static"]
    assert len(static.retrains) == 1 and static.promotions == 1
    assert static.retrains[0].day == START and static.retrains[0].kinds == ["stale"]
    assert {s.model_day for s in static.served} == {START}
    assert static.cpu_s == pytest.approx(static.retrains[0].fit_cpu_s
                                         + static.retrains[0].gate_cpu_s)
    assert static.cpu_s > 0


def test_weekly_retrains_on_mondays_and_pays_for_each_retrain(replay):
    _, results, _ = replay
    weekly = results["weekly-mon"]
    assert [r.day for r in weekly.retrains] == [START, dt.date(2013, 2, 4),
                                                dt.date(2013, 2, 11), dt.date(2013, 2, 18)]
    assert all(r.kinds == ["scheduled"] for r in weekly.retrains[1:])
    assert all(r.fit_cpu_s > 0 and r.gate_cpu_s > 0 for r in weekly.retrains)
    assert all(r.champion_auc is not None for r in weekly.retrains[1:])
    # the serving model changes exactly on the days of a promotion
    for before, after in zip(weekly.served, weekly.served[1:], strict=False):
        if before.model_day != after.model_day:
            assert after.model_day == after.day


def test_a_triggered_policy_retrains_when_the_walk_asked_and_learns_from_the_shadow(replay):
    lab, results, signals = replay
    eager, static = results["eager"], results["static"]
    asked = {s.day + dt.timedelta(days=1): s.requested for s in eager.served if s.requested}
    later = eager.retrains[1:]
    assert len(later) >= 3 and [r.day for r in later] == sorted(asked)
    assert all(r.kinds == asked[r.day] for r in later)
    days = [r.day for r in eager.retrains]
    assert all((b - a).days >= 2 for a, b in zip(days, days[1:], strict=False))
    # every candidate judged against a champion is scored in its shadow on its first 3 days
    for r in later:
        gains = signals.shadow[r.day]
        shadow_days = [r.day + dt.timedelta(days=i) for i in range(3)]
        assert sorted(gains) == [d for d in shadow_days if d < END]
        for day, gain in gains.items():
            assert gain == pytest.approx(lab.auc_on(r.day, day)[0]
                                         - lab.auc_on(r.champion_day, day)[0])
    # the thresholds move only once a retrain's shadow days are over, within the bounds
    bounds, start = policy.Thresholds(), eager.spec.thresholds
    first_known = min(r.day for r in later) + dt.timedelta(days=2)
    before = [s for s in eager.served if s.day < first_known and s.drift_threshold]
    assert all((s.drift_threshold, s.refit_threshold) == (start.drift, start.refit)
               for s in before)
    assert any(s.drift_threshold != start.drift for s in eager.served)   # gains < 0.05: up
    assert all(bounds.min_drift <= s.drift_threshold <= bounds.max_drift
               for s in eager.served if s.drift_threshold)
    # the signals are measured against the serving champion: identical while both policies
    # are served by the first model; the refit and CBPE are there every day
    for a, s in zip(eager.served, static.served, strict=True):
        if a.model_day == s.model_day:
            assert a.drop == pytest.approx(s.drop) and a.refit_gain == pytest.approx(
                s.refit_gain)
        assert not math.isnan(a.refit_gain) and 0.4 < a.estimated_auc < 0.9
        assert a.monitor_cpu_s > 0                       # the refit is charged to it
    assert eager.cpu_s > sum(r.cpu_s for r in eager.retrains)
