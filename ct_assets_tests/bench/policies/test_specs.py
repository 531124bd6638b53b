"""The schedules fall on the days they say, a production setting is the core defaults with
named overrides, and the tuning grid is fixed in advance."""

import datetime as dt
import math

import pytest

from ct_assets.bench.policies import tuning
from ct_assets.bench.policies.specs import production_spec, standard_policies
from ct_assets.core import policy
from ct_assets.core.gate import GateConfig


def test_the_schedules_fall_on_their_days():
    policies = standard_policies()
    feb = [dt.date(2013, 2, 1) + dt.timedelta(days=i) for i in range(28)]
    assert [d for d in feb if policies["weekly-tue"].scheduled(d)] == [
        dt.date(2013, 2, 5), dt.date(2013, 2, 12), dt.date(2013, 2, 19), dt.date(2013, 2, 26)]
    every3 = [d for d in feb if policies["every-3-days"].scheduled(d)]
    assert {(b - a).days for a, b in zip(every3, every3[1:], strict=False)} == {3}
    assert not any(policies["static"].scheduled(d) for d in feb)
    assert [d for d in feb if policies["monthly"].scheduled(d)] == [dt.date(2013, 2, 1)]


def test_production_is_the_core_defaults_and_a_setting_overrides_named_fields():
    production = standard_policies()["production"]
    assert (production.thresholds, production.config, production.gate) == (
        policy.Thresholds(), policy.PolicyConfig(), GateConfig())
    setting = production_spec("s", refit=0.01, cooldown_days=5, gate=GateConfig(tolerance=0.01))
    assert setting.thresholds.refit == 0.01 and setting.config.cooldown_days == 5
    assert setting.thresholds.drift == policy.Thresholds().drift
    assert setting.uses_refit and not production_spec("t", refit=math.inf).uses_refit
    with pytest.raises(ValueError, match="unknown policy parameters"):
        production_spec("u", refti=0.01)


def test_the_grid_is_drawn_once_with_its_seed_and_starts_from_the_previous_defaults():
    first, again = tuning.settings(), tuning.settings()
    assert first == again and len(first) == tuning.SETTINGS + 1
    assert first[0] == tuning.PREVIOUS
    assert len({tuple(s.items()) for s in first}) == len(first)
    assert all(s[k] in tuning.SPACE[k] for s in first[1:] for k in s)
