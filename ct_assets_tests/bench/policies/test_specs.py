"""The experimental schedules fall on the days they say, and an isolated reactive reason uses
only knobs `core.policy.decide` already has."""

import datetime as dt

from ct_assets.bench.policies.specs import experimental_variants, standard_policies
from ct_assets.core import policy


def test_the_experimental_schedules_and_knobs():
    variants = experimental_variants()
    feb = [dt.date(2013, 2, 1) + dt.timedelta(days=i) for i in range(28)]
    assert [d for d in feb if variants["weekly-tue"].scheduled(d)] == [
        dt.date(2013, 2, 5), dt.date(2013, 2, 12), dt.date(2013, 2, 19), dt.date(2013, 2, 26)]
    every3 = [d for d in feb if variants["every-3-days"].scheduled(d)]
    assert {(b - a).days for a, b in zip(every3, every3[1:], strict=False)} == {3}
    # the isolated reasons use knobs `decide` has: a drift-only policy never fires on a drop
    drift_only = standard_policies()["drift"]
    calm = policy.decide([0.2] * 10, [0.5] * 10, drift_only.thresholds, drift_only.config,
                         days_since_retrain=30, champion_age_days=300)
    assert not calm.retrain
    stormy = policy.decide([0.2] * 9 + [2.0], [0.0] * 10, drift_only.thresholds,
                           drift_only.config, days_since_retrain=30, champion_age_days=300)
    assert stormy.retrain and stormy.kinds == ["drift"]
