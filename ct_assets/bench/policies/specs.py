"""The retrain policies of the benchmark: calendar schedules, or the retrain sensor's walk
(`core.walk.walk` asking `core.policy.decide`) with given thresholds and configuration, and
the production ablations. Light on purpose: `ct bench policies --help` lists them without
importing pandas."""

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ct_assets.core import policy

if TYPE_CHECKING:                  # core.gate imports numpy and pandas: not for --help
    from ct_assets.core.gate import GateConfig

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SCHEDULES = ("static", "monthly", *(f"weekly-{d}" for d in WEEKDAYS), "every-4-days",
             "every-3-days", "every-2-days", "daily")
POLICIES = (*SCHEDULES, "production")
DEFAULT_START = dt.date(2013, 2, 1)
DEFAULT_SPLIT = dt.date(2013, 7, 1)       # the report period starts here
DEFAULT_END = dt.date(2014, 1, 1)
OFF = 10 ** 6                      # days: a staleness limit that never fires


@dataclass(frozen=True)
class PolicySpec:
    """One retrain policy. `schedule` names a calendar rule; without one, the policy walks the
    served days with `core.walk.walk` (the retrain sensor's walk) with `thresholds` (where its
    learning starts) and `config`. `gate`: the gate's configuration (None: the Lab's).

    The last two fields exist for experiments, never for `production`, which runs exactly as
    the sensor does:
    - `promise`: what the performance drop is measured from: "holdout_daily" (production, the
      mean of the champion's AUCs on each held-out day) or "holdout" (pooled);
    - `age_from`: "retrain" (production: days since the last gate decision; a rejected
      candidate confirms the champion) or "promotion" (since the champion first served).
    """

    name: str
    schedule: str | None = None            # "never", "monthly", "weekly", "daily", "every"
    thresholds: policy.Thresholds | None = None
    config: policy.PolicyConfig | None = None
    description: str = ""
    weekday: int = 0                       # schedule "weekly": Monday (0) .. Sunday (6)
    period_days: int = 7                   # schedule "every": a retrain every period_days ...
    phase: int = 0                         # ... on the days whose ordinal % period == phase
    gate: "GateConfig | None" = None
    compare_gates: "tuple[tuple[str, GateConfig], ...]" = ()  # also run on each candidate
    promise: str = "holdout_daily"
    age_from: str = "retrain"

    @property
    def triggered(self) -> bool:
        return self.schedule is None

    @property
    def uses_refit(self) -> bool:
        """Whether the cheap refit runs for this policy (its CPU is charged to it)."""
        return self.triggered and not math.isinf(self.thresholds.refit)

    @property
    def feedback_days(self) -> int:
        return (self.config or policy.PolicyConfig()).feedback_days

    def scheduled(self, day: dt.date) -> bool:
        """Whether the calendar rule retrains for `day`."""
        if self.schedule == "every":
            return day.toordinal() % self.period_days == self.phase
        return {"never": False, "monthly": day.day == 1,
                "weekly": day.weekday() == self.weekday,
                "daily": True}.get(self.schedule or "never", False)


def production_spec(name: str = "production", description: str | None = None,
                    gate: "GateConfig | None" = None, **overrides) -> PolicySpec:
    """What a default `make dev` runs: the retrain sensor's walk with the core defaults
    (`policy.Thresholds()`, `policy.PolicyConfig()`, `GateConfig()`); `overrides` of any of
    their fields (and another `gate`) make a setting of the tuning grid or an ablation."""
    t_fields = set(policy.Thresholds.__dataclass_fields__)
    c_fields = set(policy.PolicyConfig.__dataclass_fields__)
    unknown = set(overrides) - t_fields - c_fields
    if unknown:
        raise ValueError(f"unknown policy parameters {sorted(unknown)}")
    thresholds = replace(policy.Thresholds(),
                         **{k: v for k, v in overrides.items() if k in t_fields})
    config = replace(policy.PolicyConfig(), **{k: v for k, v in overrides.items()
                                               if k in c_fields})
    from ct_assets.core.gate import GateConfig

    return PolicySpec(name, thresholds=thresholds, config=config, gate=gate or GateConfig(),
                      description=description or (
                          "what a default `make dev` runs: the retrain sensor's walk (drift, "
                          "performance, CBPE estimate, cheap refit, forecasts, staleness, "
                          "cooldown), thresholds learned from realised gains; the weekly "
                          "schedule is off by default"))


def standard_policies() -> dict[str, PolicySpec]:
    """The policies of the benchmark: the schedules (with the Lab's gate) and production."""
    out = [PolicySpec("static", "never", description="the first model, never retrained"),
           PolicySpec("monthly", "monthly", description="every first of the month")]
    out += [PolicySpec(f"weekly-{WEEKDAYS[w]}", "weekly", weekday=w,
                       description=f"every {WEEKDAYS[w].title()}") for w in range(7)]
    out += [PolicySpec(f"every-{k}-days", "every", period_days=k,
                       description=f"a retrain every {k} days") for k in (4, 3, 2)]
    out += [PolicySpec("daily", "daily", description="every day"), production_spec()]
    return {p.name: p for p in out}


def ablations() -> dict[str, PolicySpec]:
    """Production with one part switched off (reported, never tuned): what each part is worth
    on the report period."""
    out = [production_spec("production-no-refit", "production without the cheap refit "
                           "signal", refit=math.inf),
           production_spec("production-no-feedback", "production with fixed thresholds",
                           feedback=False),
           production_spec("production-no-drift", "production without the drift signal and "
                           "its forecast", drift=math.inf),
           production_spec("production-no-stale", "production without the staleness "
                           "backstop", max_age_days=OFF)]
    return {p.name: p for p in out}


def parse_policies(text: str, available: Iterable[str] = POLICIES) -> list[str]:
    """A comma list of policy names, validated, in the benchmark's order."""
    names = [n.strip() for n in str(text).split(",") if n.strip()]
    unknown = sorted(set(names) - set(available))
    if unknown or not names:
        raise ValueError(f"unknown policies {unknown}; choose from {', '.join(available)}"
                         if unknown else "no policy given")
    return [n for n in available if n in names]
