"""The retrain policies of the benchmark and the experimental variants: calendar schedules, or
`core.policy.decide` with given thresholds and configuration. Light on purpose:
`ct bench policies --help` lists them without importing pandas."""

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace

from ct_assets.core import policy

POLICIES = ("static", "monthly", "weekly", "daily", "drift", "performance", "production")
DEFAULT_START = dt.date(2013, 2, 1)
DEFAULT_END = dt.date(2014, 1, 1)
OFF = 10 ** 6                      # days: a staleness limit that never fires


@dataclass(frozen=True)
class PolicySpec:
    """One retrain policy. `schedule` names a calendar rule; without one, the policy walks the
    served days with `core.walk.walk` (the retrain sensor's walk, which asks
    `core.policy.decide`) with `thresholds` and `config`, and learns from outcomes with
    `core.policy.adjust` when `feedback`.

    The last two fields exist for the experiments (`VARIANTS`), never for the seven
    policies of the benchmark, which all run exactly as production does:
    - `promise`: what the performance drop is measured from: "holdout_daily" (production, the
      mean of the champion's AUCs on each held-out day, like for like with one served day) or
      "holdout" (its AUC pooled over the held-out days, what production used before);
    - `age_from`: "retrain" (production: days since the last gate decision; a rejected
      candidate confirms the champion) or "promotion" (since the champion first served).
    """

    name: str
    schedule: str | None = None            # "never", "monthly", "weekly", "daily", "every"
    thresholds: policy.Thresholds | None = None
    config: policy.PolicyConfig | None = None
    feedback: bool = False
    description: str = ""
    weekday: int = 0                       # schedule "weekly": Monday (0) .. Sunday (6)
    period_days: int = 7                   # schedule "every": a retrain every period_days ...
    phase: int = 0                         # ... on the days whose ordinal % period == phase
    promise: str = "holdout_daily"
    age_from: str = "retrain"

    @property
    def triggered(self) -> bool:
        return self.schedule is None

    def scheduled(self, day: dt.date) -> bool:
        """Whether the calendar rule retrains for `day`."""
        if self.schedule == "every":
            return day.toordinal() % self.period_days == self.phase
        return {"never": False, "monthly": day.day == 1,
                "weekly": day.weekday() == self.weekday,
                "daily": True}.get(self.schedule or "never", False)


def standard_policies(thresholds: policy.Thresholds | None = None,
                      config: policy.PolicyConfig | None = None) -> dict[str, PolicySpec]:
    """The seven policies of the benchmark, with the production thresholds and configuration
    (or the given ones) for the triggered ones.

    `drift` and `performance` isolate one reactive reason with knobs `decide` already has:
    the other signal's threshold is infinite, the forecast horizon is 0 (no predictive
    trigger) and the staleness limit never fires; the cooldown stays."""
    thresholds = thresholds or policy.Thresholds()
    config = config or policy.PolicyConfig()
    reactive = replace(config, horizon=0, max_age_days=OFF)
    return {
        "static": PolicySpec("static", "never", description="the first model, never retrained"),
        "monthly": PolicySpec("monthly", "monthly", description="every first of the month"),
        "weekly": PolicySpec("weekly", "weekly", description="every Monday"),
        "daily": PolicySpec("daily", "daily", description="every day (the ceiling)"),
        "drift": PolicySpec("drift", thresholds=replace(thresholds, performance=math.inf),
                            config=reactive, description="reactive drift trigger only"),
        "performance": PolicySpec("performance", thresholds=replace(thresholds, drift=math.inf),
                                  config=reactive,
                                  description="reactive performance trigger only"),
        "production": PolicySpec("production", thresholds=thresholds, config=config,
                                 feedback=True,
                                 description="what a default `make dev` runs: the retrain "
                                             "sensor's walk (drift, performance, forecasts, "
                                             "staleness, cooldown), thresholds learned from "
                                             "outcomes; the weekly schedule is off by default"),
    }


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def experimental_variants(thresholds: policy.Thresholds | None = None,
                          config: policy.PolicyConfig | None = None) -> dict[str, PolicySpec]:
    """The experiments behind policies.md (`--variants`): where the seven policies sit on the
    cost/quality curve of schedules, what each part of `production` is worth, and what
    production did before the defaults changed.

    - schedules: every 2, 3, 4 days; weekly on each other weekday (how much of weekly's
      result is the luck of Monday);
    - `production` without the feedback loop, without forecasts, without either;
    - one production choice at a time undone: the drop against the pooled held-out AUC, the
      raw daily drop (no smoothing), the age counted from the promotion, the cooldown;
    - the previous production defaults (drift 1.5, drop 0.02 against the pooled AUC, raw,
      age from the promotion) and reactive drift alone at the previous 1.5.
    """
    t = thresholds or policy.Thresholds()
    c = config or policy.PolicyConfig()
    reactive = replace(c, horizon=0, max_age_days=OFF)
    out = [PolicySpec(f"every-{k}-days", "every", period_days=k,
                      description=f"schedule: a retrain every {k} days") for k in (2, 3, 4)]
    out += [PolicySpec(f"weekly-{WEEKDAYS[w]}", "weekly", weekday=w,
                       description=f"schedule: every {WEEKDAYS[w].title()}") for w in range(1, 7)]
    out += [
        PolicySpec("production-no-feedback", thresholds=t, config=c,
                   description="production with fixed thresholds"),
        PolicySpec("production-no-forecast", thresholds=t, config=replace(c, horizon=0),
                   feedback=True, description="production without the predictive triggers"),
        PolicySpec("production-reactive", thresholds=t, config=replace(c, horizon=0),
                   description="production without forecasts and without feedback"),
        PolicySpec("production-pooled-promise", thresholds=t, config=c, feedback=True,
                   promise="holdout", description="production, drop against the held-out AUC "
                                                  "pooled over the 3 held-out days"),
        PolicySpec("production-raw-drop", thresholds=t,
                   config=replace(c, performance_smoothing=1), feedback=True,
                   description="production judging each day's drop alone"),
        PolicySpec("production-age-from-promotion", thresholds=t, config=c, feedback=True,
                   age_from="promotion", description="production, staleness counted from the "
                                                     "champion's promotion"),
        PolicySpec("production-cooldown7", thresholds=t, config=replace(c, cooldown_days=7),
                   feedback=True, description="production with `cooldown_days=7`"),
        PolicySpec("production-previous-defaults",
                   thresholds=replace(t, drift=1.5, performance=0.02),
                   config=replace(c, performance_smoothing=1), feedback=True,
                   promise="holdout", age_from="promotion",
                   description="the defaults before this benchmark: drift 1.5, a raw daily "
                               "drop of 0.02 against the pooled held-out AUC, age from the "
                               "promotion"),
        PolicySpec("drift-1.5", thresholds=replace(t, drift=1.5, performance=math.inf),
                   config=reactive, description="reactive drift only at 1.5 (the previous "
                                                "default)"),
    ]
    return {v.name: v for v in out}


def parse_policies(text: str, available: Iterable[str] = POLICIES) -> list[str]:
    """A comma list of policy names, validated, in the benchmark's order."""
    names = [n.strip() for n in str(text).split(",") if n.strip()]
    unknown = sorted(set(names) - set(available))
    if unknown or not names:
        raise ValueError(f"unknown policies {unknown}; choose from {', '.join(available)}"
                         if unknown else "no policy given")
    return [n for n in available if n in names]
