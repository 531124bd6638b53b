"""The retrain walk: over the served days, in order, whether a new model is due.

The retrain sensor and `ct bench policies`' `production` policy both call `walk`; the sensor
gathers the inputs from Dagster and turns a request into a run, the bench trains and gates in
process. So what is benchmarked is what runs.

A day D is judged once its drift score and performance drop were measured against the
champion serving D (the decision log says which); labels may come late, and after
`labels_grace_days` a day is judged on drift alone. `core.policy.decide` says whether day
D + 1 needs a new model. Without any champion, the first retrain is for the day after the
newest featurised day whose whole window is ready.
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


@dataclass(frozen=True)
class Signals:
    """Per served day: (drift score, the version it was scored against) and (AUC drop or None,
    the version scored); days without a value are absent."""

    drift: dict[dt.date, tuple[float, str]]
    drop: dict[dt.date, tuple[float | None, str]]


def _series(signals: Signals, log: DecisionLog, days: list[dt.date]) -> tuple[list, list]:
    drift, drop = [], []
    for day in days:
        serving = log.version_serving(day)
        value = signals.drift.get(day)
        drift.append(value[0] if value and serving is not None and value[1] == serving
                     else math.nan)
        dropped = signals.drop.get(day)
        drop.append(dropped[0] if dropped and dropped[0] is not None else math.nan)
    return drift, drop


def walk(signals: Signals, log: DecisionLog, state: WalkState, thresholds: policy.Thresholds,
         config: policy.PolicyConfig, *, next_trainable: dt.date | None,
         valid: Callable[[dt.date], bool], retrained: dt.date | None = None,
         labels_grace_days: int = 2,
         unready: Callable[[dt.date], str | None] | None = None) -> Step:
    """Judge the days after `state.last_day` in order; stop at the first retrain due.

    `retrained`: the newest day any candidate was trained for (manual runs included), so the
    cooldown counts from it too. `valid(day)`: whether `day` can be retrained for (a partition).
    `unready(day)`: why the training window of `day` is not complete yet (a day of it still to
    be featurised), or None; a retrain due then waits, the day judged again next time, rather
    than being requested and refused.
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
    judged, suppressed = [], []
    for day in sorted(d for d in signals.drift if state.last_day is None or d > state.last_day):
        serving = log.version_serving(day)
        if serving is None:                        # before the first champion: nothing to judge
            state = replace(state, last_day=day)
            continue
        if signals.drift[day][1] != serving:
            return Step(state, waiting=f"{day} was scored against another model than the "
                                       f"champion serving it (version {serving})",
                        judged=judged, suppressed=suppressed)
        dropped = signals.drop.get(day)
        labelled = dropped is not None and dropped[1] == serving
        if not labelled and day + dt.timedelta(days=labels_grace_days) not in signals.drift:
            return Step(state, waiting=f"the labels of {day} are still to come",
                        judged=judged, suppressed=suppressed)
        history = list(day_range(
            day - dt.timedelta(days=config.history + config.performance_smoothing - 2),
            day + dt.timedelta(days=1)))
        drift, drop = _series(signals, log, history)
        target = day + dt.timedelta(days=1)
        decision = policy.decide(
            drift, drop, thresholds, config,
            days_since_retrain=(target - last_retrain).days if last_retrain else None,
            champion_age_days=(target - log.last_confirmed(day)).days)
        if decision.retrain and valid(target) and unready is not None:
            missing = unready(target)
            if missing:
                return Step(state, waiting=f"a retrain for {target} is due "
                                           f"({'; '.join(decision.reasons)}); its window "
                                           f"waits for {missing}",
                            judged=judged, suppressed=suppressed)
        state = replace(state, last_day=day)
        judged.append(day)
        if decision.suppressed_by_cooldown:
            suppressed.append((day, decision.reasons))
        if decision.retrain and valid(target):
            return Step(replace(state, last_retrain=target),
                        request=Request(target, decision.kinds, decision.reasons,
                                        decision.lead_days),
                        judged=judged, suppressed=suppressed)
    return Step(state, judged=judged, suppressed=suppressed)


def to_rescore(scored: dict[dt.date, str], log: DecisionLog) -> list[dt.date]:
    """Days already scored against another model than the one serving them, when that
    champion was decided for an earlier day (a catch-up decided it after they were scored;
    the decided day itself is refreshed by automation, its own decision having changed)."""
    out = []
    for day in sorted(scored):
        serving = log.serving(day)
        if serving is None or serving.effective_from == day:
            continue
        if scored[day] != serving.version:
            out.append(day)
    return out
