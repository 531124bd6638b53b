"""`ct bench policies`: does the adaptive retrain loop beat the schedules?

The served days of 2013 (Feb 1 .. Dec 31 by default) are replayed one by one, with the features,
model configuration, 28-day training window and gate of production, under each retrain policy:

- `static`: the model trained for the first day serves the whole range;
- `monthly`, `weekly`, `daily`: a retrain for every first of the month, every Monday, every day;
- `drift`: `core.policy.decide` with only its reactive drift reason (performance threshold
  infinite, forecast horizon 0, staleness off), fixed thresholds;
- `performance`: the same with only the reactive performance reason;
- `adaptive`: everything `decide` does (drift, performance, their Holt forecasts, staleness,
  cooldown) and, after each retrain, `core.policy.adjust` on its outcome.

Semantics (those of the trigger sensor, `defs/triggers/sensors.py`):
- the model serving day N is the champion at the start of N. A retrain "for N" trains candidate
  N on the window N-28 .. N-1 (`training.window_split` keeps its last 3 days out), then
  `gate.decide` with the default `GateConfig` and the carrier/origin slices compares it with
  the champion on those held-out days; promoted, it serves N onward. Every policy starts with
  the model trained for the first day (counted as its first retrain and promotion).
- after day D ends, its labels and features give the two signals, both against the champion
  that served D: drift[D] = `feature_drift.summary_score(score(reference, profile of D,
  calibration))` with the merged whylogs profile and calibration of the champion's training
  days, and drop[D] = the champion's held-out AUC minus its AUC on D's labelled flights.
  `policy.decide` on the last `history` days of both series, with days since the last retrain
  and the champion's age counted at N = D + 1, says whether to retrain for N.
- cost: process CPU seconds of `training.fit` plus the gate's evaluation (scoring candidate and
  champion on the held-out flights + `gate.decide`) of every retrain a policy requested.
  Training is deterministic for a window, so a model fitted for day N is fitted once and shared
  by every policy that retrains for N (and a gate for the same candidate/champion pair is run
  once); each policy is still charged the CPU measured when that fit and that gate ran.

Drift episodes (for the reaction-time column) are found from two policy-independent series:
the daily AUC of a fresh model (the one trained for D) and of a two-week-old one (the model
trained for D - 14), both scored on D: an episode is a run of days whose 3-day mean gap
(fresh minus old) is at least `EPISODE_GAP`, starting on the first such day; for each policy
the reaction time is the days from that onset to the first day served by a model it promoted
after the onset day (a model trained on the onset day's labels, so at least 1).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ct_assets.core import policy

if TYPE_CHECKING:
    import pandas as pd

    from ct_assets.core.gate import GateConfig, GateDecision
    from ct_assets.core.training import DelayModel, TrainParams

HELP = "retrain policies over 2013: schedules vs drift / performance triggers vs adaptive"

POLICIES = ("static", "monthly", "weekly", "daily", "drift", "performance", "adaptive")
DEFAULT_START = dt.date(2013, 2, 1)
DEFAULT_END = dt.date(2014, 1, 1)
WINDOW_DAYS = 28
HOLDOUT_DAYS = 3
SLICES = ("carrier", "origin")
OFF = 10 ** 6                      # days: a staleness limit that never fires

EPISODE_GAP = 0.02                 # fresh minus 14-day-old model, 3-day mean AUC
EPISODE_OLD_DAYS = 14
EPISODE_SMOOTH = 3
EPISODE_MIN_DAYS = 2
EPISODE_FRESH_DAYS = 3             # a champion trained this close to the onset is already fresh
TARGET_DAILY_GAP = 0.003           # adaptive within this much mean AUC of daily
ANALYSIS_MARKER = "<!-- analysis below is kept when the bench rewrites this file -->"


# --------------------------------------------------------------------------------------------
# Policies


@dataclass(frozen=True)
class PolicySpec:
    """One retrain policy. `schedule` names a calendar rule; without one, the policy asks
    `core.policy.decide` every day with `thresholds` and `config` (and learns from outcomes
    with `core.policy.adjust` when `feedback`).

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
        "adaptive": PolicySpec("adaptive", thresholds=thresholds, config=config, feedback=True,
                               description="drift + performance + forecasts + staleness, "
                                           "thresholds adjusted by outcomes"),
    }


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def experimental_variants(thresholds: policy.Thresholds | None = None,
                          config: policy.PolicyConfig | None = None) -> dict[str, PolicySpec]:
    """The experiments behind policies.md (`--variants`): where the seven policies sit on the
    cost/quality curve of schedules, what each part of `adaptive` is worth, and what
    production did before the defaults changed.

    - schedules: every 2, 3, 4 days; weekly on each other weekday (how much of weekly's
      result is the luck of Monday);
    - `adaptive` without the feedback loop, without forecasts, without either;
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
        PolicySpec("adaptive-no-feedback", thresholds=t, config=c,
                   description="adaptive with fixed thresholds"),
        PolicySpec("adaptive-no-forecast", thresholds=t, config=replace(c, horizon=0),
                   feedback=True, description="adaptive without the predictive triggers"),
        PolicySpec("adaptive-reactive", thresholds=t, config=replace(c, horizon=0),
                   description="adaptive without forecasts and without feedback"),
        PolicySpec("adaptive-pooled-promise", thresholds=t, config=c, feedback=True,
                   promise="holdout", description="adaptive, drop against the held-out AUC "
                                                  "pooled over the 3 held-out days"),
        PolicySpec("adaptive-raw-drop", thresholds=t,
                   config=replace(c, performance_smoothing=1), feedback=True,
                   description="adaptive judging each day's drop alone"),
        PolicySpec("adaptive-age-from-promotion", thresholds=t, config=c, feedback=True,
                   age_from="promotion", description="adaptive, staleness counted from the "
                                                     "champion's promotion"),
        PolicySpec("adaptive-cooldown7", thresholds=t, config=replace(c, cooldown_days=7),
                   feedback=True, description="adaptive with `cooldown_days=7`"),
        PolicySpec("adaptive-previous-defaults",
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


# --------------------------------------------------------------------------------------------
# What a policy did


@dataclass
class Retrain:
    """One retrain requested by a policy and the gate's verdict."""

    day: dt.date                      # the day the candidate was trained for
    kinds: list[str]
    reasons: list[str]
    promoted: bool
    candidate_auc: float
    champion_auc: float | None
    delta_low: float | None
    gate_reason: str
    fit_cpu_s: float
    gate_cpu_s: float
    lead_days: int | None = None
    thresholds_before: tuple[float, float] | None = None
    thresholds_after: tuple[float, float] | None = None

    @property
    def auc_gain(self) -> float | None:
        return None if self.champion_auc is None else self.candidate_auc - self.champion_auc

    @property
    def cpu_s(self) -> float:
        return self.fit_cpu_s + self.gate_cpu_s


@dataclass
class Served:
    """One served day: the model that served it and the signals observed once it ended."""

    day: dt.date
    model_day: dt.date                # the day the serving model was trained for
    auc: float
    n: int
    drift: float
    drop: float
    drift_threshold: float | None = None
    performance_threshold: float | None = None
    requested: list[str] = field(default_factory=list)   # kinds of a retrain asked for day+1
    suppressed: bool = False          # a reason fired inside the cooldown


@dataclass
class PolicyResult:
    spec: PolicySpec
    served: list[Served] = field(default_factory=list)
    retrains: list[Retrain] = field(default_factory=list)

    @property
    def aucs(self) -> list[float]:
        return [s.auc for s in self.served]

    def mean_auc(self) -> float:
        return _mean(self.aucs)

    def p10_auc(self) -> float:
        return _quantile(self.aucs, 0.10)

    @property
    def promotions(self) -> int:
        return sum(r.promoted for r in self.retrains)

    @property
    def cpu_s(self) -> float:
        return sum(r.cpu_s for r in self.retrains)


def _mean(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


def _quantile(values: list[float], q: float) -> float:
    import numpy as np

    values = [v for v in values if not math.isnan(v)]
    return float(np.quantile(values, q)) if values else math.nan


# --------------------------------------------------------------------------------------------
# The shared laboratory: every model, profile, score and gate computed at most once


@dataclass
class Fitted:
    """A candidate trained for `day`: the model, its days, its held-out AUC, its fit cost."""

    day: dt.date
    model: DelayModel
    train_days: list[dt.date]
    holdout_days: list[dt.date]
    holdout_auc: float
    fit_cpu_s: float
    holdout_daily_auc: float           # mean of its AUCs on each held-out day


@dataclass
class GateRun:
    decision: GateDecision
    cpu_s: float


class Lab:
    """Day frames, daily feature profiles, fitted candidates (one per training day), their drift
    references, daily scores and gate decisions, each computed once and shared by the policies.

    Models no policy serves any more are dropped by `forget` (their cost and held-out AUC are
    kept), so a year of daily retrains does not hold 334 boosters in memory."""

    def __init__(self, frame: pd.DataFrame, *, window_days: int = WINDOW_DAYS,
                 holdout_days: int = HOLDOUT_DAYS, params: TrainParams | None = None,
                 gate_config: GateConfig | None = None, keep_all: bool = False):
        from ct_assets.core.gate import GateConfig
        from ct_assets.core.training import TrainParams

        self.window_days, self.holdout_days = window_days, holdout_days
        self.keep_all = keep_all                     # never forget a model (experiments)
        self.params = params or TrainParams()
        self.gate_config = gate_config or GateConfig()
        self.frame = frame
        self.by_day = {day: rows.reset_index(drop=True)
                       for day, rows in frame.groupby("ds", sort=True)}
        self._labelled: dict[dt.date, pd.DataFrame] = {}
        self._views: dict[dt.date, Any] = {}
        self._fitted: dict[dt.date, Fitted] = {}
        self.fit_cpu: dict[dt.date, float] = {}      # kept after a model is forgotten
        self.holdout_auc: dict[dt.date, float] = {}
        self.holdout_daily_auc: dict[dt.date, float] = {}
        self._references: dict[dt.date, tuple[Any, dict]] = {}
        self._scores: dict[tuple[dt.date, dt.date], tuple[float, int, float]] = {}
        self._gates: dict[tuple[dt.date, dt.date | None], GateRun] = {}
        self.gaps: dict[dt.date, float] = {}        # see `simulate(gap_days=...)`
        self.fits = 0
        self.gates = 0

    # data ---------------------------------------------------------------------------------

    def rows(self, day: dt.date) -> pd.DataFrame:
        if day not in self.by_day:
            raise ValueError(f"no features for {day}: the frame covers "
                             f"{min(self.by_day)} .. {max(self.by_day)}")
        return self.by_day[day]

    def labelled(self, day: dt.date) -> pd.DataFrame:
        if day not in self._labelled:
            rows = self.rows(day)
            self._labelled[day] = rows[rows["is_delayed"].notna()].reset_index(drop=True)
        return self._labelled[day]

    def view(self, day: dt.date):
        """The whylogs profile of the day's feature rows, as `flight_features` stores it."""
        from ct_assets.core import profiles
        from ct_assets.core.features import FEATURE_NAMES

        if day not in self._views:
            self._views[day] = profiles.profile_frame(self.rows(day), FEATURE_NAMES)
        return self._views[day]

    # models -------------------------------------------------------------------------------

    def window(self, day: dt.date) -> tuple[list[dt.date], list[dt.date]]:
        from ct_assets.core import training

        days = [day - dt.timedelta(days=self.window_days - i) for i in range(self.window_days)]
        return training.window_split(days, self.holdout_days)

    def held_out(self, day: dt.date) -> pd.DataFrame:
        import pandas as pd

        return pd.concat([self.labelled(d) for d in self.window(day)[1]], ignore_index=True)

    def fitted(self, day: dt.date) -> Fitted:
        """The candidate trained for `day` (fitted on first request)."""
        import pandas as pd

        from ct_assets.core import evaluation, training

        if day in self._fitted:
            return self._fitted[day]
        train_days, holdout_days = self.window(day)
        train = pd.concat([self.rows(d) for d in train_days], ignore_index=True)
        began = time.process_time()
        model = training.fit(train, self.params)
        cpu = time.process_time() - began
        held = self.held_out(day)
        p = model.predict_proba(held)
        y = held["is_delayed"].astype(bool).to_numpy()
        auc = evaluation.auc(y, p)
        per_day = [evaluation.auc(y[mask], p[mask]) for mask in
                   (held["ds"].to_numpy() == d for d in holdout_days)]
        self.fits += 1
        self.fit_cpu[day], self.holdout_auc[day] = cpu, auc
        self.holdout_daily_auc[day] = _mean(per_day)
        self._fitted[day] = Fitted(day, model, train_days, holdout_days, auc, cpu,
                                   self.holdout_daily_auc[day])
        return self._fitted[day]

    def forget(self, keep: set[dt.date]) -> None:
        """Drop the models, references and gates of every training day not in `keep`."""
        if self.keep_all:
            return
        for day in [d for d in self._fitted if d not in keep]:
            del self._fitted[day]
            self._references.pop(day, None)
        self._gates = {k: v for k, v in self._gates.items() if k[0] in keep}

    def reference(self, model_day: dt.date) -> tuple[Any, dict]:
        """Merged profile and calibration of the model's training days (what `candidate_model`
        logs with the model and `feature_drift` reads back)."""
        from ct_assets.core import feature_drift

        if model_day not in self._references:
            views = [self.view(d) for d in self.fitted(model_day).train_days]
            merged = views[0]
            for view in views[1:]:
                merged = merged.merge(view)
            self._references[model_day] = (merged, feature_drift.calibrate(merged, views))
        return self._references[model_day]

    # scores -------------------------------------------------------------------------------

    def auc_on(self, model_day: dt.date, day: dt.date) -> tuple[float, int]:
        """AUC of the model trained for `model_day` on `day`'s labelled flights, and n."""
        from ct_assets.core import evaluation

        key = (model_day, day)
        if key not in self._scores:
            rows = self.labelled(day)
            p = self.fitted(model_day).model.predict_proba(rows)
            auc = evaluation.auc(rows["is_delayed"].astype(bool).to_numpy(), p)
            self._scores[key] = (auc, len(rows), math.nan)
        return self._scores[key][:2]

    def drift_on(self, model_day: dt.date, day: dt.date) -> float:
        """Drift score of `day` against the reference of the model trained for `model_day`."""
        from ct_assets.core import feature_drift

        self.auc_on(model_day, day)
        auc, n, drift = self._scores[(model_day, day)]
        if math.isnan(drift):
            reference, calibration = self.reference(model_day)
            drift = feature_drift.summary_score(
                feature_drift.score(reference, self.view(day), calibration))
            self._scores[(model_day, day)] = (auc, n, drift)
        return drift

    def gate(self, candidate_day: dt.date, champion_day: dt.date | None) -> GateRun:
        """`gate.decide` for the candidate trained for `candidate_day` against the champion, on
        the candidate's held-out days, with its CPU (scoring both + the decision)."""
        from ct_assets.core import gate

        key = (candidate_day, champion_day)
        if key not in self._gates:
            candidate = self.fitted(candidate_day).model
            champion = None if champion_day is None else self.fitted(champion_day).model
            held = self.held_out(candidate_day)
            began = time.process_time()
            y = held["is_delayed"].astype(bool).to_numpy()
            p_new = candidate.predict_proba(held)
            p_old = None if champion is None else champion.predict_proba(held)
            slices = {name: held[name].to_numpy() for name in SLICES}
            decision = gate.decide(y, p_new, p_old, slices, self.gate_config)
            self._gates[key] = GateRun(decision, time.process_time() - began)
            self.gates += 1
        return self._gates[key]


# --------------------------------------------------------------------------------------------
# The replay


@dataclass
class _State:
    """One policy's running state."""

    result: PolicyResult
    champion: dt.date | None = None          # training day of the serving model
    serving_since: dt.date | None = None
    last_retrain: dt.date | None = None
    thresholds: policy.Thresholds | None = None
    pending: policy.TriggerDecision | None = None
    drift: list[float] = field(default_factory=list)
    drop: list[float] = field(default_factory=list)


def _retrain(lab: Lab, state: _State, day: dt.date, kinds: list[str], reasons: list[str],
             lead: int | None) -> None:
    spec = state.result.spec
    fitted = lab.fitted(day)
    run = lab.gate(day, state.champion)
    decision = run.decision
    before = state.thresholds
    after = before
    if spec.feedback and before is not None and decision.champion_auc is not None:
        after = policy.adjust(before, policy.Outcome(
            kinds=frozenset(kinds), promoted=bool(decision.promote),
            auc_gain=decision.candidate_auc - decision.champion_auc), spec.config)
    state.thresholds = after
    state.result.retrains.append(Retrain(
        day=day, kinds=kinds, reasons=reasons, promoted=bool(decision.promote),
        candidate_auc=decision.candidate_auc, champion_auc=decision.champion_auc,
        delta_low=decision.delta_low, gate_reason=decision.reason,
        fit_cpu_s=fitted.fit_cpu_s, gate_cpu_s=run.cpu_s, lead_days=lead,
        thresholds_before=None if before is None else (before.drift, before.performance),
        thresholds_after=None if after is None else (after.drift, after.performance)))
    state.last_retrain = day
    if decision.promote:
        state.champion, state.serving_since = day, day
    if state.champion is None:
        raise RuntimeError(f"{spec.name}: the first candidate (for {day}) failed the gate: "
                           f"{decision.reason}")


def simulate(frame: pd.DataFrame, policies: Iterable[PolicySpec | str], start: dt.date,
             end: dt.date, *, window_days: int = WINDOW_DAYS, holdout_days: int = HOLDOUT_DAYS,
             params: TrainParams | None = None, gate_config: GateConfig | None = None,
             lab: Lab | None = None, gap_days: int | None = None,
             progress: Callable[[dt.date], None] | None = None) -> dict[str, PolicyResult]:
    """Replay the days of [start, end) under each policy, in lockstep, sharing one `Lab`.

    `frame` holds the labelled features (`bench.train.labelled_frame`) of at least
    [start - window_days, end). Names are looked up in `standard_policies()`. With `gap_days`,
    `lab.gaps[D]` is also measured on every day D from start + gap_days on: the AUC of the
    model trained for D minus that of the model trained for D - gap_days, on D's flights (the
    series drift episodes are found in).

    If the model trained for `start` fails the gate's sanity floors there is no champion to
    replay: a RuntimeError says so (2013-02-01 passes; 2013-02-02's log loss does not).
    """
    if end <= start:
        raise ValueError(f"end {end} is not after start {start}")
    known = standard_policies()
    specs = [known[p] if isinstance(p, str) else p for p in policies]
    lab = lab or Lab(frame, window_days=window_days, holdout_days=holdout_days, params=params,
                     gate_config=gate_config)
    states = [_State(PolicyResult(spec), thresholds=spec.thresholds) for spec in specs]
    day = start
    while day < end:
        for state in states:
            spec = state.result.spec
            if state.champion is None:
                _retrain(lab, state, day, ["initial"], ["first model"], None)
            elif state.pending is not None:
                pending, state.pending = state.pending, None
                _retrain(lab, state, day, list(pending.kinds), list(pending.reasons),
                         pending.lead_days)
            elif spec.scheduled(day):
                _retrain(lab, state, day, ["scheduled"], [f"{spec.schedule} schedule"], None)
            _serve(lab, state, day, end)
        keep = {s.champion for s in states}
        if gap_days is not None:
            old = day - dt.timedelta(days=gap_days)
            if old >= start:
                lab.gaps[day] = lab.auc_on(day, day)[0] - lab.auc_on(old, day)[0]
            keep |= {day - dt.timedelta(days=i) for i in range(gap_days)}
        lab.forget(keep)
        if progress:
            progress(day)
        day += dt.timedelta(days=1)
    return {state.result.spec.name: state.result for state in states}


def _serve(lab: Lab, state: _State, day: dt.date, end: dt.date) -> None:
    """Serve `day` with the champion, observe the signals after it ends, and decide."""
    spec = state.result.spec
    auc, n = lab.auc_on(state.champion, day)
    drift = lab.drift_on(state.champion, day)
    promised = (lab.holdout_daily_auc if spec.promise == "holdout_daily"
                else lab.holdout_auc)[state.champion]
    drop = promised - auc
    state.drift.append(drift)
    state.drop.append(drop)
    served = Served(day, state.champion, auc, n, drift, drop)
    if spec.triggered:
        thresholds, config = state.thresholds, spec.config
        served.drift_threshold, served.performance_threshold = (thresholds.drift,
                                                                thresholds.performance)
        target = day + dt.timedelta(days=1)
        since = state.last_retrain if spec.age_from == "retrain" else state.serving_since
        decision = policy.decide(
            state.drift[-config.history:],
            state.drop[-(config.history + config.performance_smoothing - 1):], thresholds, config,
            days_since_retrain=(target - state.last_retrain).days,
            champion_age_days=(target - since).days)
        served.suppressed = decision.suppressed_by_cooldown
        if decision.retrain and target < end:
            served.requested = list(decision.kinds)
            state.pending = decision
    state.result.served.append(served)


# --------------------------------------------------------------------------------------------
# Drift episodes and reaction times


@dataclass
class Episode:
    onset: dt.date
    last: dt.date
    peak_gap: float
    mean_gap: float

    @property
    def days(self) -> int:
        return (self.last - self.onset).days + 1


def find_episodes(gaps: dict[dt.date, float], threshold: float = EPISODE_GAP,
                  smooth: int = EPISODE_SMOOTH, min_days: int = EPISODE_MIN_DAYS
                  ) -> list[Episode]:
    """Runs of at least `min_days` days whose trailing `smooth`-day mean gap is >= threshold.

    The trailing mean only uses days up to D, so an onset is a day on which the gap was
    already visible."""
    days = sorted(gaps)
    smoothed = {}
    for i, day in enumerate(days):
        window = [gaps[d] for d in days[max(0, i - smooth + 1): i + 1]]
        smoothed[day] = sum(window) / len(window)
    episodes, run = [], []
    for day in days + [None]:
        if day is not None and smoothed[day] >= threshold and (
                not run or (day - run[-1]).days == 1):
            run.append(day)
            continue
        if len(run) >= min_days:
            values = [smoothed[d] for d in run]
            episodes.append(Episode(run[0], run[-1], max(values), sum(values) / len(values)))
        run = [day] if day is not None and smoothed[day] >= threshold else []
    return episodes


def reaction_days(result: PolicyResult, episode: Episode,
                  fresh_days: int = EPISODE_FRESH_DAYS) -> int | None:
    """Days from the episode's onset to the first day served by a model this policy promoted
    after the onset day (trained on it); 0 if the model serving the onset day was trained for
    a day at most `fresh_days` before it (it had already seen the run-up); None if it never
    got a promoted model within the range."""
    onset = next((s for s in result.served if s.day == episode.onset), None)
    if onset is not None and (episode.onset - onset.model_day).days <= fresh_days:
        return 0
    for retrain in result.retrains:
        if retrain.promoted and retrain.day > episode.onset:
            return (retrain.day - episode.onset).days
    return None


# --------------------------------------------------------------------------------------------
# Summary document (what policies.json holds)


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), digits)


def paired_difference(aucs: list[float], baseline: list[float], block: int = 7,
                      n_boot: int = 2000, seed: int = 0) -> dict:
    """Mean daily AUC difference against a baseline served the same days, with a 90% interval
    from a bootstrap of `block`-day blocks (neighbouring days share weather and models)."""
    import numpy as np

    diff = np.asarray(aucs, dtype=float) - np.asarray(baseline, dtype=float)
    diff = diff[~np.isnan(diff)]
    k = len(diff) // block
    if k < 2:
        return {"mean": _round(float(diff.mean()) if len(diff) else math.nan, 5), "ci90": None}
    blocks = diff[: k * block].reshape(k, block).mean(axis=1)
    rng = np.random.default_rng(seed)
    means = blocks[rng.integers(0, k, (n_boot, k))].mean(axis=1)
    return {"mean": _round(float(diff.mean()), 5),
            "ci90": [_round(float(np.quantile(means, 0.05)), 5),
                     _round(float(np.quantile(means, 0.95)), 5)]}


def gate_outcome(retrain: Retrain) -> str:
    """promoted, or why not: `auc` (the interval of the AUC change reaches below the
    tolerance), `slice` (a carrier/origin slice lost too much), `floor` (sanity floors)."""
    if retrain.promoted:
        return "promoted"
    reason = retrain.gate_reason
    return "floor" if "floor" in reason or "log loss" in reason else \
        "slice" if "slices" in reason else "auc"


def _split_gap(result: PolicyResult, daily: PolicyResult | None,
               episodes: list[Episode]) -> dict | None:
    """Mean daily AUC minus the daily policy's, on episode days and on the other days."""
    if daily is None:
        return None
    inside = {e.onset + dt.timedelta(days=i) for e in episodes for i in range(e.days)}
    base = {s.day: s.auc for s in daily.served}
    diffs = {True: [], False: []}
    for s in result.served:
        if s.day in base:
            diffs[s.day in inside].append(s.auc - base[s.day])
    return {"episode_days": len(diffs[True]), "in_episodes": _round(_mean(diffs[True]), 5),
            "elsewhere": _round(_mean(diffs[False]), 5)}


def policy_row(result: PolicyResult, episodes: list[Episode],
               baselines: dict[str, PolicyResult], detail: bool = True) -> dict:
    """One policy's figures: the required keys first, then the detail (`detail`: the retrain
    log and the daily series, for the plot and for reading back)."""
    kinds: dict[str, int] = {}
    for retrain in result.retrains:
        for kind in retrain.kinds:
            kinds[kind] = kinds.get(kind, 0) + 1
    leads = [r.lead_days for r in result.retrains if r.lead_days is not None]
    spec = result.spec
    row = {
        "name": spec.name,
        "mean_auc": _round(result.mean_auc(), 5),
        "p10_auc": _round(result.p10_auc(), 5),
        "retrains": len(result.retrains),
        "promotions": result.promotions,
        "cpu_s": round(result.cpu_s, 2),
        "fit_cpu_s": round(sum(r.fit_cpu_s for r in result.retrains), 2),
        "gate_cpu_s": round(sum(r.gate_cpu_s for r in result.retrains), 2),
        "description": spec.description,
        "vs": {name: paired_difference(result.aucs, base.aucs)
               for name, base in baselines.items() if base is not result},
        "retrain_kinds": kinds,
        "gate_outcomes": {k: sum(gate_outcome(r) == k for r in result.retrains)
                          for k in ("promoted", "auc", "slice", "floor")},
        "predictive": {"triggers": len(leads), "lead_days": leads,
                       "promoted": sum(r.promoted for r in result.retrains
                                       if r.lead_days is not None)},
        "suppressed_by_cooldown": sum(s.suppressed for s in result.served),
        "mean_drop": _round(_mean([s.drop for s in result.served]), 5),
        "episode_reaction_days": [reaction_days(result, e) for e in episodes],
        "vs_daily_in_episodes": _split_gap(result, baselines.get("daily"), episodes),
        "thresholds": None if spec.thresholds is None else {
            "start": asdict(spec.thresholds),
            "final": None if not result.retrains or not result.retrains[-1].thresholds_after
            else dict(zip(("drift", "performance"), result.retrains[-1].thresholds_after,
                          strict=True))},
        "config": None if spec.config is None else asdict(spec.config),
        "experiment": {k: v for k, v in (("schedule", spec.schedule),
                                         ("period_days", spec.period_days),
                                         ("phase", spec.phase), ("promise", spec.promise),
                                         ("age_from", spec.age_from))},
    }
    if detail:
        row["retrain_log"] = [{
            "day": r.day.isoformat(), "kinds": r.kinds, "reasons": r.reasons,
            "promoted": r.promoted, "candidate_auc": _round(r.candidate_auc, 5),
            "champion_auc": _round(r.champion_auc, 5),
            "auc_gain": _round(r.auc_gain, 5), "delta_low": _round(r.delta_low, 5),
            "lead_days": r.lead_days, "fit_cpu_s": round(r.fit_cpu_s, 3),
            "gate_cpu_s": round(r.gate_cpu_s, 3),
            "thresholds_after": list(r.thresholds_after) if r.thresholds_after else None,
            "gate": gate_outcome(r), "gate_reason": r.gate_reason,
        } for r in result.retrains]
        row["daily"] = {
            "auc": [_round(s.auc, 5) for s in result.served],
            "drift": [_round(s.drift, 4) for s in result.served],
            "drop": [_round(s.drop, 5) for s in result.served],
            "model_day": [s.model_day.isoformat() for s in result.served],
            "drift_threshold": [_round(s.drift_threshold, 4) for s in result.served],
            "performance_threshold": [_round(s.performance_threshold, 5)
                                      for s in result.served],
        }
    else:
        row["retrain_days"] = [r.day.isoformat() for r in result.retrains]
    return row


def summarise(results: dict[str, PolicyResult], start: dt.date, end: dt.date, *,
              window_days: int, holdout_days: int, episodes: list[Episode],
              gaps: dict[dt.date, float], meta: dict,
              variants: dict[str, PolicyResult] | None = None) -> dict:
    """The JSON document: the required keys and per-policy figures first, then the detail;
    `variants` (experiments) in a section of their own, compared with the same baselines."""
    baselines = {n: results[n] for n in ("weekly", "daily") if n in results}
    days = [s.day.isoformat() for s in next(iter(results.values())).served]
    return {
        "start": start.isoformat(), "end": end.isoformat(), "window_days": window_days,
        "policies": [policy_row(r, episodes, baselines) for r in results.values()],
        "holdout_days": holdout_days,
        "days": days,
        "episodes": {
            "definition": (f"runs of >= {EPISODE_MIN_DAYS} days whose trailing "
                           f"{EPISODE_SMOOTH}-day mean of AUC(model trained for D) - "
                           f"AUC(model trained for D-{EPISODE_OLD_DAYS}) on D's flights is "
                           f">= {EPISODE_GAP}"),
            "reaction": (f"days from the onset to the first day served by a model promoted "
                         f"after the onset day; 0 when the model serving the onset day was "
                         f"trained for a day at most {EPISODE_FRESH_DAYS} days before it"),
            "list": [{"onset": e.onset.isoformat(), "last": e.last.isoformat(), "days": e.days,
                      "peak_gap": _round(e.peak_gap), "mean_gap": _round(e.mean_gap)}
                     for e in episodes],
            "mean_gap": _round(_mean(list(gaps.values())), 5),
            "gap_by_day": {d.isoformat(): _round(g, 5) for d, g in sorted(gaps.items())},
        },
        "variants": [policy_row(r, episodes, baselines, detail=False)
                     for r in (variants or {}).values()],
        "meta": meta,
    }


def verdict(doc: dict) -> dict | None:
    """The target: adaptive mean AUC >= weekly's with no more retrains, and within
    `TARGET_DAILY_GAP` of daily. None unless the three policies ran."""
    by = {p["name"]: p for p in doc["policies"]}
    if not {"adaptive", "weekly", "daily"} <= set(by):
        return None
    a, w, d = by["adaptive"], by["weekly"], by["daily"]
    checks = {
        "auc_vs_weekly": a["mean_auc"] >= w["mean_auc"],
        "retrains_vs_weekly": a["retrains"] <= w["retrains"],
        "within_daily": d["mean_auc"] - a["mean_auc"] <= TARGET_DAILY_GAP,
    }
    return {"met": all(checks.values()), "checks": checks,
            "gap_to_weekly": round(a["mean_auc"] - w["mean_auc"], 5),
            "gap_to_daily": round(d["mean_auc"] - a["mean_auc"], 5)}


# --------------------------------------------------------------------------------------------
# Rendering


def _fmt(value, spec: str = ".4f", none: str = "–") -> str:
    return none if value is None else format(value, spec)


def _vs(row: dict, baseline: str) -> str:
    diff = row.get("vs", {}).get(baseline)
    if not diff:
        return "–"
    ci = diff["ci90"]
    return f"{diff['mean']:+.4f}" + (f" [{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else "")


def table_rows(doc: dict, rows_from: str = "policies") -> list[list[str]]:
    """Rows of the main table (also printed by the command), or of the variants table."""
    episodes = doc["episodes"]["list"]
    rows = []
    for p in doc[rows_from]:
        reached = [r for r in p["episode_reaction_days"] if r is not None]
        median = _fmt(_median(reached), ".0f") if reached else "–"
        rows.append([p["name"], _fmt(p["mean_auc"]), _fmt(p["p10_auc"]), str(p["retrains"]),
                     str(p["promotions"]), f"{p['cpu_s']:.0f}",
                     f"{median} ({len(reached)}/{len(episodes)})" if episodes else "–",
                     _vs(p, "weekly"), _vs(p, "daily")])
    return rows


TABLE_HEADER = ["policy", "mean AUC", "p10 AUC", "retrains", "promotions", "CPU s",
                "episode → promoted: median days (reached)", "vs weekly [90% CI]",
                "vs daily [90% CI]"]


def _median(values: list[float]) -> float | None:
    values = sorted(values)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def print_result(doc: dict, console: Console) -> None:
    table = Table(title=f"ct bench policies: {doc['start']} .. {doc['end']} (exclusive), "
                        f"window {doc['window_days']} days ({doc['holdout_days']} held out)")
    for col in TABLE_HEADER:
        table.add_column(col, justify="left" if col == "policy" else "right")
    for row in table_rows(doc):
        table.add_row(*row)
    console.print(table)
    target = verdict(doc)
    if target is not None:
        state = "[green]met[/green]" if target["met"] else "[red]not met[/red]"
        console.print(f"target (adaptive ≥ weekly mean AUC with ≤ its retrains, within "
                      f"{TARGET_DAILY_GAP} of daily): {state} — adaptive − weekly "
                      f"{target['gap_to_weekly']:+.4f}, daily − adaptive "
                      f"{target['gap_to_daily']:+.4f}")


def _md_table(header: list[str], rows: list[list[str]], right_from: int = 1) -> list[str]:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i < right_from else "---:" for i in range(len(header)))
             + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def render_markdown(doc: dict, analysis: str = "") -> str:
    """policies.md: how it was run, the table, episodes, triggers; then the analysis."""
    meta = doc["meta"]
    by = {p["name"]: p for p in doc["policies"]}
    out = [
        "# Retrain policies over 2013: does the adaptive loop beat the schedules?", "",
        f"`{meta.get('command', 'ct bench policies')}` replays the served days "
        f"{doc['start']} .. {doc['end']} (exclusive; {len(doc['days'])} days) one by one under "
        "each retrain policy, with production's features, LightGBM configuration "
        f"({meta.get('n_estimators', '?')} trees, fixed seed), {doc['window_days']}-day window "
        f"({doc['holdout_days']} days held out for the gate) and the default gate. "
        "Day N is served by the champion at the start of N; a retrain for N trains on "
        "N-28 .. N-1, so a day's labels are used only after it ends. Every policy starts with "
        "the model trained for the first day, **counted as its first retrain and promotion** "
        "(static: 1 retrain). Signals after day D (both against the champion that served D): "
        "the drift score of D's features against the champion's training days "
        "(`core/feature_drift.py`) and the drop of its AUC on D below its held-out AUC; "
        "`core/policy.py:decide` turns them into a retrain for D+1.", "",
        "CPU is process time of `training.fit` plus the gate's evaluation (scoring candidate "
        "and champion on the held-out flights + `gate.decide`) for every retrain a policy "
        "requested. Training is deterministic for a window, so each model is fitted once and "
        "shared between the policies that retrain for the same day (likewise a gate of the same "
        "candidate/champion pair); each policy is charged the CPU measured when that fit and "
        "gate ran. Drift scoring, profiling and daily scoring (the monitoring every policy but "
        "the schedules needs) are not charged.", "",
        f"Run on {meta.get('machine', '?')}, {meta.get('measured_at', '?')}: "
        f"{meta.get('fits', '?')} fits and {meta.get('gates', '?')} gates in "
        f"{meta.get('wall_s', 0) / 60:.1f} min wall.", "",
        "## Results", "",
    ]
    out += _md_table(TABLE_HEADER, table_rows(doc))
    target = verdict(doc)
    if target is not None:
        a, w, d = by["adaptive"], by["weekly"], by["daily"]
        checks = target["checks"]
        out += ["", f"**Target: {'met' if target['met'] else 'not met'}.** "
                f"Adaptive mean AUC {a['mean_auc']:.4f} vs weekly {w['mean_auc']:.4f} "
                f"({target['gap_to_weekly']:+.4f}, {'✓' if checks['auc_vs_weekly'] else '✗'}), "
                f"retrains {a['retrains']} vs weekly {w['retrains']} "
                f"({'✓' if checks['retrains_vs_weekly'] else '✗'}), "
                f"{target['gap_to_daily']:.4f} below daily {d['mean_auc']:.4f} "
                f"(target ≤ {TARGET_DAILY_GAP}, {'✓' if checks['within_daily'] else '✗'})."]
    out += ["", "![daily AUC per policy](policies.png)", "",
            "## Why each policy retrained", ""]
    rows = []
    for p in doc["policies"]:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(p["retrain_kinds"].items(),
                                                          key=lambda kv: -kv[1]))
        promoted_share = p["promotions"] / p["retrains"] if p["retrains"] else 0
        pred = p["predictive"]
        leads = pred["lead_days"]
        final = (p["thresholds"] or {}).get("final") or {}
        gates = p.get("gate_outcomes", {})
        rows.append([p["name"], kinds, f"{promoted_share:.0%}",
                     f"{gates.get('auc', '?')} / {gates.get('slice', '?')} / "
                     f"{gates.get('floor', '?')}",
                     str(p["suppressed_by_cooldown"]),
                     f"{pred['triggers']} ({pred['promoted']} promoted; lead "
                     f"{', '.join(f'{k}d×{leads.count(k)}' for k in sorted(set(leads)))})"
                     if leads else "–",
                     f"drift {final['drift']:.2f}, perf {final['performance']:.4f}"
                     if final else "–"])
    out += _md_table(["policy", "retrains by reason", "promoted",
                      "rejected: AUC interval / slice veto / floors", "reasons inside cooldown",
                      "predictive triggers", "final thresholds"], rows, right_from=2)
    episodes = doc["episodes"]["list"]
    out += ["", "## Drift episodes", "", f"Definition: {doc['episodes']['definition']} "
            f"(mean gap over the range: {_fmt(doc['episodes'].get('mean_gap'))}). "
            f"Reaction: {doc['episodes'].get('reaction', '')} (1 = retrained on the onset "
            "day's labels and promoted for the next day); – = not within the range.", ""]
    if episodes:
        names = [p["name"] for p in doc["policies"]]
        rows = []
        for i, e in enumerate(episodes):
            rows.append([f"{e['onset']} .. {e['last']}", str(e["days"]), f"{e['peak_gap']:.3f}"]
                        + [_fmt(by[n]["episode_reaction_days"][i], "d") for n in names])
        out += _md_table(["episode", "days", "peak gap"] + names, rows)
        split = [(p["name"], p.get("vs_daily_in_episodes")) for p in doc["policies"]]
        if any(v for _, v in split):
            out += ["", f"Mean daily AUC minus the daily policy's, on the "
                    f"{split[0][1]['episode_days'] if split[0][1] else '?'} episode days and on "
                    "the other days:", ""]
            out += _md_table(["policy", "in episodes", "elsewhere"],
                             [[n, _fmt(v["in_episodes"], "+.4f"), _fmt(v["elsewhere"], "+.4f")]
                              for n, v in split if v])
    else:
        out.append("_no episode found_")
    if doc.get("variants"):
        out += ["", "## Experiments", "",
                "Variants replayed in the same run (same fits and gates, same charging), "
                "to see where the seven policies sit and what would move `adaptive`. Knobs "
                "that production does not have yet are marked in the description; everything "
                "else is a `Thresholds` / `PolicyConfig` value passed to the same "
                "`core/policy.py` calls.", ""]
        out += _md_table(TABLE_HEADER, table_rows(doc, "variants"))
        out += [""] + [f"- `{v['name']}`: {v['description']}" for v in doc["variants"]]
    if meta.get("holdout_auc_pooled_minus_per_day") is not None:
        out += ["", "Held-out AUC pooled over the 3 held-out days minus the mean of the per-day "
                "AUCs on the same days, averaged over every fitted model: "
                f"{meta['holdout_auc_pooled_minus_per_day']:+.4f}."]
    if meta.get("note"):
        out += ["", f"Note: {meta['note']}"]
    out += ["", ANALYSIS_MARKER, ""]
    if analysis.strip():
        out.append(analysis.strip())
    return "\n".join(out) + "\n"


def plot(doc: dict, path: Path) -> Path:
    """Daily AUC per policy (one panel each, 7-day mean bold, daily's for reference), retrain
    markers (filled: promoted, hollow: rejected), episodes shaded; then the adaptive policy's
    signals against its thresholds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    import pandas as pd

    days = pd.to_datetime(doc["days"])
    policies = doc["policies"]
    by = {p["name"]: p for p in policies}
    adaptive = by.get("adaptive")
    top = 1 if "daily" in by else 0
    panels = top + len(policies) + (2 if adaptive else 0)
    fig, axes = plt.subplots(panels, 1, figsize=(13, 1.9 * panels + 1), sharex=True,
                             gridspec_kw={"height_ratios": [2] * top + [1] * (panels - top)})
    reference = None
    episodes = [(pd.Timestamp(e["onset"]), pd.Timestamp(e["last"]) + pd.Timedelta(days=1))
                for e in doc["episodes"]["list"]]
    if top:
        raw = pd.Series(by["daily"]["daily"]["auc"], index=days, dtype=float)
        reference = raw.rolling(7, min_periods=1).mean()
        ax = axes[0]
        colors = plt.get_cmap("tab10")
        for i, p in enumerate(policies):
            if p["name"] == "daily":
                continue
            diff = pd.Series(p["daily"]["auc"], index=days, dtype=float) - raw
            ax.plot(days, diff.rolling(28, min_periods=7).mean(), lw=2.2 if p["name"] in (
                "adaptive", "weekly") else 1.0, color=colors(i),
                label=f"{p['name']} ({p['mean_auc'] - by['daily']['mean_auc']:+.4f})")
        ax.axhline(0, color="black", lw=0.8)
        ax.axhline(-TARGET_DAILY_GAP, color="black", lw=0.6, ls=":")
        for onset, stop in episodes:
            ax.axvspan(onset, stop, color="tab:red", alpha=0.08, lw=0)
        ax.set_ylabel("AUC − daily's")
        ax.set_title("daily AUC minus the daily policy's, 28-day trailing mean (legend: whole "
                     f"range); dotted: −{TARGET_DAILY_GAP}; shaded: drift episodes",
                     fontsize=9, loc="left")
        ax.legend(loc="lower left", fontsize=7, ncol=3)
    aucs = [v for p in policies for v in p["daily"]["auc"] if v is not None]
    low, high = (min(aucs), max(aucs)) if aucs else (0.5, 1.0)
    for ax, p in zip(axes[top:], policies, strict=False):
        auc = pd.Series(p["daily"]["auc"], index=days, dtype=float)
        ax.plot(days, auc, lw=0.5, color="tab:blue", alpha=0.45)
        ax.plot(days, auc.rolling(7, min_periods=1).mean(), lw=1.6, color="tab:blue",
                label=f"{p['name']} (7-day mean)")
        if reference is not None and p["name"] != "daily":
            ax.plot(days, reference, lw=1.0, color="black", ls="--", alpha=0.6,
                    label="daily (7-day mean)")
        for onset, stop in episodes:
            ax.axvspan(onset, stop, color="tab:red", alpha=0.08, lw=0)
        log = p["retrain_log"]
        for promoted, style in ((True, dict(marker="^", color="tab:green")),
                                (False, dict(marker="^", facecolors="none",
                                             edgecolors="tab:gray"))):
            when = [pd.Timestamp(r["day"]) for r in log if r["promoted"] == promoted]
            if when:
                ax.scatter(when, [low] * len(when), s=18, zorder=3, **style)
        ax.set_ylim(low - 0.01, high + 0.005)
        ax.set_ylabel("AUC")
        ax.set_title(f"{p['name']}: mean {p['mean_auc']:.4f}, p10 {p['p10_auc']:.4f}, "
                     f"{p['retrains']} retrains (▲ promoted {p['promotions']}, △ rejected)",
                     fontsize=9, loc="left")
        ax.legend(loc="upper right", fontsize=7, ncol=2)
    if adaptive:
        ax = axes[top + len(policies)]
        ax.plot(days, adaptive["daily"]["drift"], lw=0.8, color="tab:purple",
                label="drift score vs the serving champion")
        ax.plot(days, adaptive["daily"]["drift_threshold"], lw=1.2, color="tab:purple",
                ls="--", label="drift threshold")
        ax.set_yscale("log")
        ax.set_ylabel("drift")
        ax.set_title("adaptive: signals after each day and the thresholds it learned",
                     fontsize=9, loc="left")
        ax.legend(loc="upper right", fontsize=7, ncol=2)
        ax = axes[top + len(policies) + 1]
        ax.plot(days, adaptive["daily"]["drop"], lw=0.8, color="tab:orange",
                label="AUC drop vs held-out")
        ax.plot(days, adaptive["daily"]["performance_threshold"], lw=1.2, color="tab:orange",
                ls="--", label="performance threshold")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_ylabel("drop")
        kinds_color = {"drift": "tab:purple", "performance": "tab:orange", "stale": "tab:gray"}
        for r in adaptive["retrain_log"]:
            kind = r["kinds"][0]
            color = kinds_color.get(kind.replace("predicted_", ""), "black")
            ax.axvline(pd.Timestamp(r["day"]), color=color, lw=0.6,
                       ls=":" if kind.startswith("predicted") else "-", alpha=0.6)
        ax.legend(loc="upper right", fontsize=7, ncol=2)
    axes[-1].xaxis.set_major_locator(mdates.MonthLocator())
    axes[-1].xaxis.set_major_formatter(mdates.DateFormatter("%b"))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _clean(value):
    """JSON without NaN/inf (null instead)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def kept_analysis(path: Path) -> str:
    """The hand-written analysis below `ANALYSIS_MARKER` in an existing policies.md."""
    if not path.exists():
        return ""
    text = path.read_text()
    return text.split(ANALYSIS_MARKER, 1)[1] if ANALYSIS_MARKER in text else ""


def write_outputs(doc: dict, out: Path) -> dict[str, Path]:
    """policies.json, policies.md (keeping its analysis section) and policies.png in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {ext: out / f"policies.{ext}" for ext in ("json", "md", "png")}
    paths["json"].write_text(json.dumps(_clean(doc), indent=1) + "\n")
    paths["md"].write_text(render_markdown(doc, kept_analysis(paths["md"])))
    plot(doc, paths["png"])
    return paths


# --------------------------------------------------------------------------------------------
# The command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", default=DEFAULT_START.isoformat(), metavar="YYYY-MM-DD",
                        help="first served day (default 2013-02-01: January trains the first "
                             "model)")
    parser.add_argument("--end", default=DEFAULT_END.isoformat(), metavar="YYYY-MM-DD",
                        help="day after the last served day (default 2014-01-01)")
    parser.add_argument("--policies", default=",".join(POLICIES),
                        help=f"comma list (default all: {','.join(POLICIES)})")
    parser.add_argument("--out", default="docs/benchmarks",
                        help="folder of policies.json/.md/.png (default docs/benchmarks)")
    parser.add_argument("--window", type=int, default=WINDOW_DAYS,
                        help=f"training window, days (default {WINDOW_DAYS})")
    parser.add_argument("--holdout", type=int, default=HOLDOUT_DAYS,
                        help=f"held-out days of the window (default {HOLDOUT_DAYS})")
    parser.add_argument("--n-estimators", type=int, default=None,
                        help="trees per model (default: TrainParams')")
    parser.add_argument("--variants", default="none",
                        help="experiments replayed alongside (reported apart, under "
                             "'variants'): none (default), all, or a comma list of "
                             + ", ".join(experimental_variants()))
    parser.add_argument("--note", help="a sentence about the conditions, kept in the .md")
    parser.add_argument("--render-only", action="store_true",
                        help="only rewrite policies.md and policies.png from OUT/policies.json")


def _variants_flag(variants: list[PolicySpec]) -> list[str]:
    if not variants:
        return []
    names = [v.name for v in variants]
    return ["--variants " + ("all" if names == list(experimental_variants())
                             else ",".join(names))]


def bench(start: dt.date, end: dt.date, names: list[str], *, window_days: int = WINDOW_DAYS,
          holdout_days: int = HOLDOUT_DAYS, n_estimators: int | None = None,
          progress: Callable[[str, int, int], None] | None = None,
          specs: dict[str, PolicySpec] | None = None,
          variants: list[PolicySpec] | None = None) -> dict:
    """Build the frame, replay the policies (and the experimental `variants`, in the same
    lockstep so they share every fit), find the episodes: the JSON document."""
    import os
    import platform

    from ct_assets.bench.train import labelled_frame
    from ct_assets.core.training import TrainParams

    began = time.perf_counter()
    params = TrainParams() if n_estimators is None else TrainParams(n_estimators=n_estimators)
    if progress:
        progress("building the features and labels", 0, 1)
    frame = labelled_frame(start - dt.timedelta(days=window_days), end)
    lab = Lab(frame, window_days=window_days, holdout_days=holdout_days, params=params)
    total = (end - start).days
    specs = specs or standard_policies()
    variants = variants or []
    clash = {v.name for v in variants} & set(names)
    if clash:
        raise ValueError(f"variant names {sorted(clash)} clash with the policies")
    results = simulate(frame, [specs[n] for n in names] + variants, start, end, lab=lab,
                       gap_days=EPISODE_OLD_DAYS,
                       progress=lambda d: progress and progress(
                           f"replaying {d}", (d - start).days + 1, total))
    tried = {v.name: results.pop(v.name) for v in variants}
    gaps = lab.gaps
    episodes = find_episodes(gaps)
    meta = {
        "command": " ".join(["ct bench policies", f"--start {start}", f"--end {end}"]
                            + ([f"--policies {','.join(names)}"] if names != list(POLICIES)
                               else [])
                            + ([f"--n-estimators {n_estimators}"] if n_estimators else [])
                            + _variants_flag(variants)),
        "n_estimators": params.n_estimators,
        "holdout_auc_pooled_minus_per_day": _round(_mean(
            [lab.holdout_auc[d] - lab.holdout_daily_auc[d] for d in lab.holdout_auc]), 5),
        "fits": lab.fits, "gates": lab.gates,
        "wall_s": round(time.perf_counter() - began, 1),
        "measured_at": dt.datetime.now().replace(microsecond=0).isoformat(sep=" "),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    return summarise(results, start, end, window_days=window_days, holdout_days=holdout_days,
                     episodes=episodes, gaps=gaps, meta=meta, variants=tried)


def run(args: argparse.Namespace, console: Console) -> int:
    """`ct bench policies`: replay, print the table, write policies.json / .md / .png."""
    from ct_assets.core.days import parse_day
    from ct_assets.core.feature_drift import MIN_CALIBRATION_DAYS

    out = Path(args.out)
    if args.render_only:
        source = out / "policies.json"
        if not source.exists():
            console.print(f"[red]error:[/red] {source} does not exist")
            return 2
        return _publish(json.loads(source.read_text()), args, out, console)
    try:
        start, end = parse_day(args.start), parse_day(args.end)
        names = parse_policies(args.policies)
        known = experimental_variants()
        variants = ([] if args.variants == "none" else list(known.values())
                    if args.variants == "all" else
                    [known[n] for n in parse_policies(args.variants, known)])
        if end <= start:
            raise ValueError(f"--end {end} is not after --start {start}")
        if args.holdout < 1 or args.window - args.holdout < MIN_CALIBRATION_DAYS:
            raise ValueError(f"--window {args.window} must exceed --holdout {args.holdout} "
                             f"by at least {MIN_CALIBRATION_DAYS} days (drift calibration)")
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("starting", total=1)

        def progress(text: str, done: int, total: int) -> None:
            bar.update(task, description=text, completed=done, total=total)

        doc = bench(start, end, names, window_days=args.window, holdout_days=args.holdout,
                    n_estimators=args.n_estimators, progress=progress, variants=variants)
    return _publish(doc, args, out, console)


def _publish(doc: dict, args: argparse.Namespace, out: Path, console: Console) -> int:
    """Add the `--note`, print the table and write policies.json / .md / .png."""
    if args.note:
        doc["meta"]["note"] = args.note
    print_result(doc, console)
    paths = write_outputs(doc, out)
    console.print("written: " + ", ".join(str(p) for p in paths.values()))
    return 0
