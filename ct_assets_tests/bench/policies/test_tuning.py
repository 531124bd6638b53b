"""Parameters are chosen from the tune period only: a choice made from results holding a
report-period day raises; within the tune period the rules pick what they say."""

import datetime as dt

import pytest

from ct_assets.bench.policies import tuning
from ct_assets.bench.policies.results import PolicyResult, Retrain, Served
from ct_assets.bench.policies.specs import production_spec, standard_policies
from ct_assets.core.gate import GateConfig

TUNE = tuning.Period(dt.date(2013, 2, 1), dt.date(2013, 2, 8))


def result(spec, aucs, retrain_days, first=TUNE.start):
    days = [first + dt.timedelta(days=i) for i in range(len(aucs))]
    return PolicyResult(spec, [Served(d, first, a, 900, 0.1, 0.0) for d, a in
                               zip(days, aucs, strict=True)],
                        [Retrain(d, ["scheduled"], [], True, 0.7, 0.7, 0.0, 0.0, "", 1.0, 0.1)
                         for d in retrain_days])


def weekly(aucs):
    return {"weekly-mon": result(standard_policies()["weekly-mon"], aucs, [TUNE.start] * 2)}


def test_a_parameter_chosen_from_report_period_data_raises():
    eight_days = [0.70] * 8                              # Feb 1 .. Feb 8: Feb 8 is reported
    grid = {"setting-00": result(production_spec("setting-00"), eight_days, [TUNE.start])}
    with pytest.raises(tuning.PeriodError, match="2013-02-08, outside the tune period"):
        tuning.choose_policy(grid, weekly([0.7] * 7), TUNE)
    daily = standard_policies()["daily"]
    gates = {"daily@0": result(tuning.gate_grid([daily])[0], eight_days, [TUNE.start])}
    with pytest.raises(tuning.PeriodError):
        tuning.choose_gates(gates, TUNE)
    late = {"setting-00": result(production_spec("setting-00"), [0.7] * 7,
                                 [dt.date(2013, 3, 1)])}
    with pytest.raises(tuning.PeriodError, match="2013-03-01"):
        tuning.choose_policy(late, weekly([0.7] * 7), TUNE)


def test_the_rules_pick_the_best_eligible_setting_and_the_best_gate():
    grid = {
        "setting-000": result(production_spec("setting-000"), [0.70] * 7, [TUNE.start] * 2),
        "setting-001": result(production_spec("setting-001"), [0.75] * 7, [TUNE.start] * 3),
        "setting-002": result(production_spec("setting-002"), [0.72] * 7, [TUNE.start] * 2),
    }
    chosen, table = tuning.choose_policy(grid, weekly([0.7] * 7), TUNE)
    assert chosen == "setting-002"                        # setting-001 retrains too often
    assert table["max_retrains"] == 2 and table["eligible"] == 2
    policies = standard_policies()
    best = {"daily": 0.02, "weekly-mon": 1.0}
    gates = {s.name: result(s, [0.70 + (0.01 if s.gate.tolerance == best[s.name.split("@")[0]]
                                        else 0)] * 7, [TUNE.start])
             for s in tuning.gate_grid([policies["daily"], policies["weekly-mon"]])}
    chosen, rows = tuning.choose_gates(gates, TUNE)
    assert chosen == {name: GateConfig(tolerance=t) for name, t in best.items()}
    assert len(rows["daily"]) == len(tuning.GATE_TOLERANCES)
