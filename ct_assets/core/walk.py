"""The retrain walk: over the served days, in order, whether a new model is due.

The retrain sensor and `ct bench policies`' `production` policy both call `walk`; the sensor
gathers the inputs from Dagster and turns a request into a run, the bench trains and gates in
process. So what is benchmarked is what runs.

A day D is judged once its drift score and performance drop were measured against the
champion serving D (the decision log says which); labels may come late, and after
`labels_grace_days` a day is judged on drift alone. `core.policy.decide` says whether day
D + 1 needs a new model. Without any champion, the first retrain is for the day after the
newest featurised day whose whole window is ready.

The thresholds D is judged with are learned (`core.policy.learn`) from the retrains whose
realised gain is known by D: every candidate gated against a champion is scored in the
shadow of that champion on its first `feedback_days` served days, and once D has passed the
last of them, the mean gain is what the retrain bought. A day inside a candidate's shadow is
judged only once its shadow score is in (with the same grace as labels).
"""

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ct_assets.core import policy
from ct_assets.core.days import day_range
from ct_assets.core.serving import DecisionLog


@dataclass(frozen=True)
class WalkState:
    """What the walk remembers between calls (the sensor's cursor)."""

    last_day: dt.date | None = None        # the last day judged
    last_retrain: dt.date | None = None    # the day of the last retrain requested
    bootstrap: dt.date | None = None       # the first retrain requested, without a champion


@dataclass(frozen=True)
class Request:
    """A retrain for `day`, with why."""

    day: dt.date
    kinds: list[str]
    reasons: list[str]
    lead_days: int | None = None


@dataclass(frozen=True)
class Step:
    """The outcome of one walk: a request, or a reason to wait, and the new state."""

    state: WalkState
    request: Request | None = None
    waiting: str | None = None
    judged: list[dt.date] = field(default_factory=list)
    suppressed: list[tuple[dt.date, list[str]]] = field(default_factory=list)
    learned: policy.Thresholds | None = None   # the thresholds the last judged day met


@dataclass(frozen=True)
class Signals:
    """Per served day: (drift score, the version it was scored against), (AUC drop or None,
    the version scored), the CBPE estimated drop and the refit gain likewise; days without a
    value are absent. `retrains`: why each retrain ran (its day: its kinds); `shadow`: per
    candidate (the day it was trained for), its AUC gain over the champion it was gated
    against on each served day scored so far."""

    drift: dict[dt.date, tuple[float, str]]
    drop: dict[dt.date, tuple[float | None, str]]
    estimate: dict[dt.date, tuple[float | None, str]] = field(default_factory=dict)
    refit: dict[dt.date, tuple[float | None, str]] = field(default_factory=dict)
    retrains: dict[dt.date, frozenset[str]] = field(default_factory=dict)
    shadow: dict[dt.date, dict[dt.date, float]] = field(default_factory=dict)


def _value(series: dict, day: dt.date, serving: str | None) -> float:
    found = series.get(day)
    return found[0] if found and found[0] is not None and found[1] == serving else math.nan


def _series(signals: Signals, log: DecisionLog, days: list[dt.date]) -> dict[str, list]:
    out = {"drift": [], "drop": [], "estimate": [], "refit": []}
    for day in days:
        serving = log.version_serving(day)
        out["drift"].append(_value(signals.drift, day, serving))
        dropped = signals.drop.get(day)
        out["drop"].append(dropped[0] if dropped and dropped[0] is not None else math.nan)
        out["estimate"].append(_value(signals.estimate, day, serving))
        out["refit"].append(_value(signals.refit, day, serving))
    return out


def shadowed(log: DecisionLog) -> dict[dt.date, tuple[str, str]]:
    """The candidates scored in the shadow: per gate decision with a champion to beat, the
    day it was trained for and (candidate, the champion it was judged against)."""
    out = {}
    for decision in log.decisions:
        if decision.kind == "gate" and decision.candidate and decision.replaced \
                and decision.candidate != decision.replaced:
            out[decision.effective_from] = (decision.candidate, decision.replaced)
    return out


def realised_gain(gains: dict[dt.date, float], first: dt.date, days: int) -> float | None:
    """The mean AUC gain of a candidate over its first `days` served days (those scored;
    None if none was)."""
    values = [gains[d] for d in day_range(first, first + dt.timedelta(days=days))
              if d in gains and not math.isnan(gains[d])]
    return sum(values) / len(values) if values else None


def outcomes(signals: Signals, log: DecisionLog, day: dt.date,
             config: policy.PolicyConfig) -> list[policy.Outcome]:
    """What each retrain bought, for those whose shadow days all ended by `day`, in order."""
    out = []
    for first in sorted(shadowed(log)):
        if first + dt.timedelta(days=config.feedback_days - 1) > day:
            continue
        gain = realised_gain(signals.shadow.get(first, {}), first, config.feedback_days)
        if gain is not None:
            out.append(policy.Outcome(kinds=signals.retrains.get(first, frozenset()),
                                      auc_gain=gain))
    return out


def thresholds_on(signals: Signals, log: DecisionLog, day: dt.date,
                  initial: policy.Thresholds, config: policy.PolicyConfig) -> policy.Thresholds:
    """The thresholds day `day` is judged with: learned from `initial` over the outcomes known
    by then."""
    return policy.learn(initial, outcomes(signals, log, day, config), config)


def _shadow_missing(signals: Signals, log: DecisionLog, day: dt.date,
                    config: policy.PolicyConfig) -> list[dt.date]:
    """Candidates whose shadow includes `day` but has no score for it yet."""
    return [first for first in shadowed(log)
            if first <= day < first + dt.timedelta(days=config.feedback_days)
            and day not in signals.shadow.get(first, {})]


def walk(signals: Signals, log: DecisionLog, state: WalkState, thresholds: policy.Thresholds,
         config: policy.PolicyConfig, *, next_trainable: dt.date | None,
         valid: Callable[[dt.date], bool], retrained: dt.date | None = None,
         labels_grace_days: int = 2,
         unready: Callable[[dt.date], str | None] | None = None,
         labels_in: Callable[[dt.date], bool] | None = None) -> Step:
    """Judge the days after `state.last_day` in order; stop at the first retrain due.

    `thresholds`: where learning starts (each day is judged with `policy.learn` from it over
    the outcomes known by then). `retrained`: the newest day any candidate was trained for
    (manual runs included), so the cooldown counts from it too. `valid(day)`: whether `day`
    can be retrained for (a partition). `unready(day)`: why the training window of `day` is
    not complete yet (a day of it still to be featurised), or None; a retrain due then waits,
    the day judged again next time, rather than being requested and refused.
    `labels_in(day)`: whether the day's outcomes are in; a day whose outcomes are in waits for
    its performance to be measured, whatever later days show (in a catch-up the drift of later
    days exists at once, and judging on drift alone then would depend on which run came
    first). Only a day whose outcomes are late is judged on drift alone after
    `labels_grace_days`.
    """
    last_retrain = max((d for d in (retrained, state.last_retrain) if d is not None),
                       default=None)
    if len(log) == 0:
        if next_trainable is None:
            return Step(state, waiting="no champion yet and no complete training window")
        if state.bootstrap == next_trainable:
            return Step(state, waiting=f"the first retrain (for {next_trainable}) produced no "
                                       "champion; see its gate decision")
        return Step(replace(state, bootstrap=next_trainable, last_retrain=next_trainable),
                    request=Request(next_trainable, ["stale"], ["no champion yet"]))
    judged, suppressed, learned = [], [], None
    for day in sorted(d for d in signals.drift if state.last_day is None or d > state.last_day):
        serving = log.version_serving(day)
        if serving is None:                        # before the first champion: nothing to judge
            state = replace(state, last_day=day)
            continue
        if signals.drift[day][1] != serving:
            return Step(state, waiting=f"{day} was scored against another model than the "
                                       f"champion serving it (version {serving})",
                        judged=judged, suppressed=suppressed, learned=learned)
        dropped = signals.drop.get(day)
        labelled = dropped is not None and dropped[1] == serving
        graced = day + dt.timedelta(days=labels_grace_days) in signals.drift
        if not labelled and labels_in is not None and labels_in(day):
            return Step(state, waiting=f"the performance of {day} on its outcomes is still "
                                       "to be measured",
                        judged=judged, suppressed=suppressed, learned=learned)
        if not labelled and not graced:
            return Step(state, waiting=f"the labels of {day} are still to come",
                        judged=judged, suppressed=suppressed, learned=learned)
        missing = _shadow_missing(signals, log, day, config) if config.feedback else []
        if missing and not graced:
            return Step(state, waiting=f"the shadow scores of {day} are still to come "
                                       f"(candidates of {', '.join(map(str, missing))})",
                        judged=judged, suppressed=suppressed, learned=learned)
        history = list(day_range(day - dt.timedelta(days=config.lookback - 1),
                                 day + dt.timedelta(days=1)))
        series = _series(signals, log, history)
        target = day + dt.timedelta(days=1)
        learned = thresholds_on(signals, log, day, thresholds, config)
        decision = policy.decide(
            series["drift"], series["drop"], learned, config,
            days_since_retrain=(target - last_retrain).days if last_retrain else None,
            champion_age_days=(target - log.last_confirmed(day)).days,
            estimate=series["estimate"], refit=series["refit"])
        if decision.retrain and valid(target) and unready is not None:
            window = unready(target)
            if window:
                return Step(state, waiting=f"a retrain for {target} is due "
                                           f"({'; '.join(decision.reasons)}); its window "
                                           f"waits for {window}",
                            judged=judged, suppressed=suppressed, learned=learned)
        state = replace(state, last_day=day)
        judged.append(day)
        if decision.suppressed_by_cooldown:
            suppressed.append((day, decision.reasons))
        if decision.retrain and valid(target):
            return Step(replace(state, last_retrain=target),
                        request=Request(target, decision.kinds, decision.reasons,
                                        decision.lead_days),
                        judged=judged, suppressed=suppressed, learned=learned)
    return Step(state, judged=judged, suppressed=suppressed, learned=learned)


def to_rescore(scored: dict[dt.date, str], log: DecisionLog) -> list[dt.date]:
    """Days already scored against another model than the one serving them (a catch-up
    decided their champion after they were scored). The decided day itself is included:
    automation refreshes it when its decision changes, except when a re-scoring run wrote it
    between the same two automation ticks as the decision (`since_last_handled` then sees
    the day handled), and a day left scored against the old champion would hold the retrain
    walk for good; a second, identical write is the lesser cost."""
    out = []
    for day in sorted(scored):
        serving = log.serving(day)
        if serving is None:
            continue
        if scored[day] != serving.version:
            out.append(day)
    return out
