"""The replay: the days of a range one by one under each policy, in lockstep, sharing one
`Lab`, with the semantics of the trigger sensor (see the package's docstring)."""

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pandas as pd

from ct_assets.bench.policies.lab import Lab
from ct_assets.bench.policies.results import PolicyResult, Retrain, Served
from ct_assets.bench.policies.specs import HOLDOUT_DAYS, WINDOW_DAYS, PolicySpec, standard_policies
from ct_assets.core import policy
from ct_assets.core.gate import GateConfig
from ct_assets.core.training import TrainParams


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

    `frame` holds the labelled features (`bench.train.data.labelled_frame`) of at least
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
