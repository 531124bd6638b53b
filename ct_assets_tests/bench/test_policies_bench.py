"""`ct bench policies`: a short replay (Feb 1 .. Feb 19, small models) behaves as the policies
say — static keeps its first model, weekly retrains on Mondays, the adaptive policy retrains
only when `core.policy.decide` asked the day before and learns thresholds within bounds —
every served day has an AUC, and the command writes the JSON/Markdown/PNG it promises."""

import argparse
import datetime as dt
import io
import json
import math

import pytest
from rich.console import Console

from ct_assets.bench import policies
from ct_assets.core import policy
from ct_assets.core.training import TrainParams

START, END = dt.date(2013, 2, 1), dt.date(2013, 2, 20)
PARAMS = TrainParams(n_estimators=40)


@pytest.fixture(scope="module")
def replay():
    from ct_assets.bench.train import labelled_frame

    frame = labelled_frame(START - dt.timedelta(days=policies.WINDOW_DAYS), END)
    lab = policies.Lab(frame, params=PARAMS)
    results = policies.simulate(frame, ["static", "weekly", "adaptive"], START, END, lab=lab,
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
    assert lab.window(dt.date(2013, 2, 1)) == (
        [dt.date(2013, 1, 4) + dt.timedelta(days=i) for i in range(25)],
        [dt.date(2013, 1, 29), dt.date(2013, 1, 30), dt.date(2013, 1, 31)])


def test_static_keeps_its_first_model_counted_as_one_retrain(replay):
    _, results = replay
    static = results["static"]
    assert len(static.retrains) == 1 and static.promotions == 1
    assert static.retrains[0].day == START and static.retrains[0].kinds == ["initial"]
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


def test_adaptive_retrains_only_when_decide_asked_and_learns_within_bounds(replay):
    _, results = replay
    adaptive, static = results["adaptive"], results["static"]
    asked = {s.day + dt.timedelta(days=1): s.requested for s in adaptive.served if s.requested}
    later = adaptive.retrains[1:]
    assert [r.day for r in later] == sorted(asked)
    assert all(r.kinds == asked[r.day] for r in later)
    days = [r.day for r in adaptive.retrains]
    cooldown = policy.PolicyConfig().cooldown_days
    assert all((b - a).days >= cooldown for a, b in zip(days, days[1:], strict=False))
    bounds = policy.Thresholds()
    for r in later:
        drift, perf = r.thresholds_after
        assert bounds.min_drift <= drift <= bounds.max_drift
        assert bounds.min_performance <= perf <= bounds.max_performance
    # the signals are measured against the serving champion: identical while both policies
    # are served by the first model
    for a, s in zip(adaptive.served, static.served, strict=True):
        if a.model_day == s.model_day:
            assert a.drift == pytest.approx(s.drift) and a.drop == pytest.approx(s.drop)
    # the February 8-9 blizzard is the drift of this range
    assert max(s.drift for s in static.served) >= policy.Thresholds().drift


def test_episodes_and_reaction_times():
    gaps = {dt.date(2013, 3, 1) + dt.timedelta(days=i): g
            for i, g in enumerate([0, 0.01, 0.05, 0.06, 0.04, -0.1, 0, 0.09, 0])}
    episodes = policies.find_episodes(gaps, threshold=0.02, smooth=1, min_days=2)
    assert [(e.onset, e.days) for e in episodes] == [(dt.date(2013, 3, 3), 3)]

    def result(champion_day):
        served = [policies.Served(day, champion_day, 0.7, 900, 0.5, 0.0) for day in gaps]
        return policies.PolicyResult(policies.standard_policies()["weekly"], served=served,
                                     retrains=[
            policies.Retrain(day, ["scheduled"], [], promoted, 0.7, 0.7, 0.0, "", 1.0, 0.1)
            for day, promoted in ((dt.date(2013, 3, 3), True), (dt.date(2013, 3, 5), False),
                                  (dt.date(2013, 3, 7), True))])

    # served on the onset by a month-old model: 4 days until the first model trained after it
    assert policies.reaction_days(result(dt.date(2013, 2, 1)), episodes[0]) == 4
    # served by a model trained two days before the onset: it had seen the run-up already
    assert policies.reaction_days(result(dt.date(2013, 3, 1)), episodes[0]) == 0


def test_the_command_writes_the_promised_files(tmp_path):
    parser = argparse.ArgumentParser()
    policies.add_arguments(parser)
    args = parser.parse_args(["--start", "2013-02-01", "--end", "2013-02-12",
                              "--policies", "weekly,static", "--n-estimators", "30",
                              "--out", str(tmp_path)])
    out = io.StringIO()
    assert policies.run(args, Console(file=out, width=150)) == 0
    doc = json.loads((tmp_path / "policies.json").read_text())
    assert {"start", "end", "window_days", "policies"} <= set(doc)
    assert (doc["start"], doc["end"], doc["window_days"]) == ("2013-02-01", "2013-02-12", 28)
    assert [p["name"] for p in doc["policies"]] == ["static", "weekly"]
    for p in doc["policies"]:
        assert {"name", "mean_auc", "p10_auc", "retrains", "promotions", "cpu_s"} <= set(p)
        assert len(p["daily"]["auc"]) == 11 and p["p10_auc"] <= p["mean_auc"]
    assert [p["retrains"] for p in doc["policies"]] == [1, 3]
    assert "static" in out.getvalue() and "mean AUC" in out.getvalue()
    assert (tmp_path / "policies.png").stat().st_size > 10_000
    md = (tmp_path / "policies.md").read_text()
    assert "| static |" in md and policies.ANALYSIS_MARKER in md
    # the analysis written under the marker survives a re-render
    (tmp_path / "policies.md").write_text(md + "\nhand-written analysis\n")
    args.render_only = True
    assert policies.run(args, Console(file=io.StringIO())) == 0
    assert "hand-written analysis" in (tmp_path / "policies.md").read_text()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown policies"):
        policies.parse_policies("weekly,hourly")
    assert policies.parse_policies("adaptive,static") == ["static", "adaptive"]


def test_the_experimental_schedules_and_knobs():
    variants = policies.experimental_variants()
    feb = [dt.date(2013, 2, 1) + dt.timedelta(days=i) for i in range(28)]
    assert [d for d in feb if variants["weekly-tue"].scheduled(d)] == [
        dt.date(2013, 2, 5), dt.date(2013, 2, 12), dt.date(2013, 2, 19), dt.date(2013, 2, 26)]
    every3 = [d for d in feb if variants["every-3-days"].scheduled(d)]
    assert {(b - a).days for a, b in zip(every3, every3[1:], strict=False)} == {3}
    # the isolated reasons use knobs `decide` has: a drift-only policy never fires on a drop
    drift_only = policies.standard_policies()["drift"]
    calm = policy.decide([0.2] * 10, [0.5] * 10, drift_only.thresholds, drift_only.config,
                         days_since_retrain=30, champion_age_days=300)
    assert not calm.retrain
    stormy = policy.decide([0.2] * 9 + [2.0], [0.0] * 10, drift_only.thresholds,
                           drift_only.config, days_since_retrain=30, champion_age_days=300)
    assert stormy.retrain and stormy.kinds == ["drift"]
