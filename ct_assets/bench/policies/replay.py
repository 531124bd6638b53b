"""The replay: the days of a range one by one under each policy, in lockstep, sharing one
`Lab`. Every policy keeps a decision log (`core.serving`) exactly as `champion_model` does: the
first model, then one gate decision per retrain (promoted, or the champion confirmed against
the candidate). Triggered policies walk the served days with `core.walk.walk`, the retrain
sensor's own walk, so `production` replays what a default `make dev` runs."""

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pandas as pd

from ct_assets.bench.policies.lab import Lab
from ct_assets.bench.policies.results import PolicyResult, Retrain, Served
from ct_assets.bench.policies.specs import PolicySpec, standard_policies
from ct_assets.core import policy, walk
from ct_assets.core.gate import GateConfig
from ct_assets.core.loop import RetrainSpec
from ct_assets.core.serving import Decision, DecisionLog
from ct_assets.core.training import TrainParams

BY = "ct bench policies"


@dataclass
class _State:
    """One policy's running state."""

    result: PolicyResult
    log: DecisionLog = field(default_factory=DecisionLog)
    walk_state: walk.WalkState = field(default_factory=walk.WalkState)
    signals: walk.Signals = field(default_factory=lambda: walk.Signals({}, {}))
    last_retrain: dt.date | None = None
    thresholds: policy.Thresholds | None = None
    pending: walk.Request | None = None

    def champion(self, day: dt.date) -> dt.date | None:
        """The training day of the model serving `day` (versions are training days here)."""
        version = self.log.version_serving(day)
        return None if version is None else dt.date.fromisoformat(version)


def _retrain(lab: Lab, state: _State, day: dt.date, kinds: list[str], reasons: list[str],
             lead: int | None) -> None:
    spec = state.result.spec
    fitted = lab.fitted(day)
    champion = state.champion(day)
    run = lab.gate(day, champion)
    decision = run.decision
    before = state.thresholds
    after = before
    if spec.feedback and before is not None and decision.champion_auc is not None:
        after = policy.adjust(before, policy.Outcome(
            kinds=frozenset(kinds), promoted=bool(decision.promote),
            auc_gain=decision.candidate_auc - decision.champion_auc))
    state.thresholds = after
    state.result.retrains.append(Retrain(
        day=day, kinds=kinds, reasons=reasons, promoted=bool(decision.promote),
        candidate_auc=decision.candidate_auc, champion_auc=decision.champion_auc,
        delta_low=decision.delta_low, gate_reason=decision.reason,
        fit_cpu_s=fitted.fit_cpu_s, gate_cpu_s=run.cpu_s, lead_days=lead,
        thresholds_before=None if before is None else (before.drift, before.performance),
        thresholds_after=None if after is None else (after.drift, after.performance)))
    state.last_retrain = day
    if champion is None and not decision.promote:
        raise RuntimeError(f"{spec.name}: the first candidate (for {day}) failed the gate: "
                           f"{decision.reason}")
    if decision.promote or spec.age_from == "retrain":
        version = day if decision.promote else champion
        state.log = state.log.append(Decision(
            effective_from=day, version=version.isoformat(), kind="gate", decided_by=BY,
            reason=decision.reason, candidate=day.isoformat(),
            replaced=None if champion is None else champion.isoformat()))


def simulate(frame: pd.DataFrame, policies: Iterable[PolicySpec | str], start: dt.date,
             end: dt.date, *, spec: RetrainSpec | None = None,
             params: TrainParams | None = None, gate_config: GateConfig | None = None,
             lab: Lab | None = None, gap_days: int | None = None,
             progress: Callable[[dt.date], None] | None = None) -> dict[str, PolicyResult]:
    """Replay the days of [start, end) under each policy, in lockstep, sharing one `Lab`.

    `frame` holds the labelled features (`bench.train.data.labelled_frame`) of at least
    [spec.window(start)[0], end). Names are looked up in `standard_policies()`. With
    `gap_days`, `lab.gaps[D]` is also measured on every day D from start + gap_days on: the AUC
    of the model trained for D minus that of the model trained for D - gap_days, on D's
    flights (the series drift episodes are found in).

    Every policy starts with the model trained for `start`, as the retrain sensor's first
    retrain; if it fails the gate's sanity floors there is no champion to replay: a
    RuntimeError says so.
    """
    if end <= start:
        raise ValueError(f"end {end} is not after start {start}")
    known = standard_policies()
    specs = [known[p] if isinstance(p, str) else p for p in policies]
    lab = lab or Lab(frame, spec=spec, params=params, gate_config=gate_config)
    states = [_State(PolicyResult(s), thresholds=s.thresholds) for s in specs]
    day = start
    while day < end:
        for state in states:
            pspec = state.result.spec
            if len(state.log) == 0:
                _retrain(lab, state, day, ["stale"], ["no champion yet"], None)
                state.walk_state = walk.WalkState(bootstrap=day, last_retrain=day)
            elif state.pending is not None:
                pending, state.pending = state.pending, None
                _retrain(lab, state, day, list(pending.kinds), list(pending.reasons),
                         pending.lead_days)
            elif pspec.scheduled(day):
                _retrain(lab, state, day, ["scheduled"], [f"{pspec.schedule} schedule"], None)
            _serve(lab, state, day, end)
        keep = {s.champion(day) for s in states}
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
    """Serve `day` with its champion, observe the signals after it ends, and walk."""
    pspec = state.result.spec
    champion = state.champion(day)
    version = champion.isoformat()
    auc, n = lab.auc_on(champion, day)
    drift = lab.drift_on(champion, day)
    promised = (lab.holdout_daily_auc if pspec.promise == "holdout_daily"
                else lab.holdout_auc)[champion]
    drop = promised - auc
    state.signals.drift[day] = (drift, version)
    state.signals.drop[day] = (drop, version)
    served = Served(day, champion, auc, n, drift, drop)
    if pspec.triggered:
        thresholds = state.thresholds
        served.drift_threshold, served.performance_threshold = (thresholds.drift,
                                                                thresholds.performance)
        step = walk.walk(state.signals, state.log, state.walk_state, thresholds, pspec.config,
                         next_trainable=None, valid=lambda d: d < end,
                         retrained=state.last_retrain)
        state.walk_state = step.state
        served.suppressed = any(d == day for d, _ in step.suppressed)
        if step.request is not None:
            served.requested = list(step.request.kinds)
            state.pending = step.request
    state.result.served.append(served)
