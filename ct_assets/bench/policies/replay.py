"""The replay: the days of a range one by one under each policy, in lockstep, sharing one
`Lab`. Every policy keeps a decision log (`core.serving`) exactly as `champion_model` does: the
first model, then one gate decision per retrain (promoted, or the champion confirmed against
the candidate). Triggered policies walk the served days with `core.walk.walk`, the retrain
sensor's own walk, so `production` replays what a default `make dev` runs: the same signals
(drift, performance drop, CBPE estimate, cheap refit) and the same shadow scores of every
candidate against the champion it was judged against, from which the walk learns."""

import datetime as dt
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pandas as pd

from ct_assets.bench.policies.lab import Lab
from ct_assets.bench.policies.results import PolicyResult, Retrain, Served
from ct_assets.bench.policies.specs import PolicySpec, standard_policies
from ct_assets.core import walk
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
    pending: walk.Request | None = None

    def champion(self, day: dt.date) -> dt.date | None:
        """The training day of the model serving `day` (versions are training days here)."""
        version = self.log.version_serving(day)
        return None if version is None else dt.date.fromisoformat(version)

    def in_shadow(self, day: dt.date) -> dict[dt.date, tuple[dt.date, dt.date]]:
        """Candidates whose shadow includes `day`: first day -> (candidate, champion)."""
        days = self.result.spec.feedback_days
        return {first: (dt.date.fromisoformat(c), dt.date.fromisoformat(r))
                for first, (c, r) in walk.shadowed(self.log).items()
                if first <= day < first + dt.timedelta(days=days)}


def _retrain(lab: Lab, state: _State, day: dt.date, kinds: list[str], reasons: list[str],
             lead: int | None) -> None:
    spec = state.result.spec
    fitted = lab.fitted(day)
    champion = state.champion(day)
    run = lab.gate(day, champion, spec.gate)
    decision = run.decision
    state.result.retrains.append(Retrain(
        day=day, kinds=kinds, reasons=reasons, promoted=bool(decision.promote),
        candidate_auc=decision.candidate_auc, champion_auc=decision.champion_auc,
        delta_auc=decision.delta_auc, delta_low=decision.delta_low,
        gate_reason=decision.reason, fit_cpu_s=fitted.fit_cpu_s, gate_cpu_s=run.cpu_s,
        lead_days=lead, champion_day=champion,
        verdicts={} if champion is None else {
            name: bool(lab.gate(day, champion, config).decision.promote)
            for name, config in spec.compare_gates}))
    state.signals.retrains[day] = frozenset(kinds)
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


class Replay:
    """Policies replayed in lockstep over consecutive days, sharing one `Lab`; `run` can be
    called again to go on from where it stopped, and `keep` drops policies on the way (a
    tuning pass stops at the end of the tune period, keeps the chosen setting, goes on)."""

    def __init__(self, lab: Lab, policies: Iterable[PolicySpec | str], start: dt.date, *,
                 gap_days: int | None = None):
        known = standard_policies()
        specs = [known[p] if isinstance(p, str) else p for p in policies]
        self.lab, self.start, self.day = lab, start, start
        self.gap_days = gap_days
        self.states = [_State(PolicyResult(s)) for s in specs]
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"policy names must be unique: {names}")

    def keep(self, names: Iterable[str]) -> None:
        names = set(names)
        self.states = [s for s in self.states if s.result.spec.name in names]

    @property
    def results(self) -> dict[str, PolicyResult]:
        return {s.result.spec.name: s.result for s in self.states}

    def signals(self, name: str) -> walk.Signals:
        """What a policy's walk saw: its signals, retrains and shadow scores."""
        return next(s.signals for s in self.states if s.result.spec.name == name)

    def run(self, end: dt.date, progress: Callable[[dt.date], None] | None = None) -> None:
        """Serve the days from where the replay stands to `end` (exclusive)."""
        lab = self.lab
        while self.day < end:
            day = self.day
            for state in self.states:
                spec = state.result.spec
                if len(state.log) == 0:
                    _retrain(lab, state, day, ["stale"], ["no champion yet"], None)
                    state.walk_state = walk.WalkState(bootstrap=day, last_retrain=day)
                elif state.pending is not None:
                    pending, state.pending = state.pending, None
                    _retrain(lab, state, day, list(pending.kinds), list(pending.reasons),
                             pending.lead_days)
                elif spec.scheduled(day):
                    _retrain(lab, state, day, ["scheduled"], [f"{spec.schedule} schedule"],
                             None)
                self._serve(state, day, end)
            keep = {s.champion(day) for s in self.states}
            for state in self.states:
                for candidate, rival in state.in_shadow(day).values():
                    keep |= {candidate, rival}
            if self.gap_days is not None:
                old = day - dt.timedelta(days=self.gap_days)
                if old >= self.start:
                    lab.gaps[day] = lab.auc_on(day, day)[0] - lab.auc_on(old, day)[0]
                keep |= {day - dt.timedelta(days=i) for i in range(self.gap_days)}
            lab.forget(keep)
            if progress:
                progress(day)
            self.day = day + dt.timedelta(days=1)

    def _serve(self, state: _State, day: dt.date, end: dt.date) -> None:
        """Serve `day` with its champion, observe the signals after it ends (and the shadow
        scores of recent candidates), and walk."""
        lab, spec = self.lab, state.result.spec
        champion = state.champion(day)
        version = champion.isoformat()
        auc, n = lab.auc_on(champion, day)
        promised = (lab.holdout_daily_auc if spec.promise == "holdout_daily"
                    else lab.holdout_auc)[champion]
        served = Served(day, champion, auc, n, drift=math.nan, drop=promised - auc)
        refit = lab.refit_on(day)
        served.refit_gain = refit.auc - auc
        if spec.triggered:                 # the monitoring only triggered policies need
            served.drift = lab.drift_on(champion, day)
            estimated = lab.estimate_on(champion, day)
            served.estimated_auc, served.estimated_sd = estimated.auc, estimated.sd
            served.estimated_drop = estimated.drop
            if spec.uses_refit:
                served.monitor_cpu_s = refit.cpu_s
        signals = state.signals
        signals.drift[day] = (served.drift, version)
        signals.drop[day] = (served.drop, version)
        signals.estimate[day] = (served.estimated_drop, version)
        signals.refit[day] = (served.refit_gain, version)
        for first, (candidate, rival) in state.in_shadow(day).items():
            signals.shadow.setdefault(first, {})[day] = (lab.auc_on(candidate, day)[0]
                                                         - lab.auc_on(rival, day)[0])
        if spec.triggered:
            step = walk.walk(signals, state.log, state.walk_state, spec.thresholds, spec.config,
                             next_trainable=None, valid=lambda d: d < end,
                             retrained=state.last_retrain)
            state.walk_state = step.state
            if step.learned is not None:
                served.drift_threshold = step.learned.drift
                served.performance_threshold = step.learned.performance
                served.refit_threshold = step.learned.refit
            served.suppressed = any(d == day for d, _ in step.suppressed)
            if step.request is not None:
                served.requested = list(step.request.kinds)
                state.pending = step.request
        state.result.served.append(served)


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
    lab = lab or Lab(frame, spec=spec, params=params, gate_config=gate_config)
    replay = Replay(lab, policies, start, gap_days=gap_days)
    replay.run(end, progress)
    return replay.results
