"""What the instance says while the loop runs: progress, milestones, and when it has caught up.

Caught up: no run queued or in progress, a champion decided, the retrain sensor waiting for
no run and its walk past the last scored day, every featurised day from the first served one
on scored against the version the decision log says serves it (nothing left to re-score);
and it stays so, with no new run, for a quiet period that spans several sensor ticks. The
wall time reported is when that state was first reached.
"""

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.definitions.run_request import InstigatorType

POLL_S = 2.0
ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
          dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
          dg.DagsterRunStatus.CANCELING]
FEATURES = dg.AssetKey("flight_features")


@dataclass
class Sample:
    elapsed: float
    runs: int
    featurised: int
    judged: int


@dataclass
class Watcher:
    """Called every poll with the elapsed seconds; returns a verdict once the loop is done,
    stalled or out of time."""

    instance: dg.DagsterInstance
    landed: list[dt.date]
    until: str                                  # "caught-up" or "first-champion"
    quiet_s: float
    stall_s: float
    timeout_s: float
    progress: Callable[[str, int, int], None] = lambda what, done, total: None
    done_at: float | None = None
    timeline: dict[str, float] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    caught_up: bool = False
    _runs_at_done: int = -1
    _last_change: tuple[int, float] = (-1, 0.0)
    _featurised: int = 0
    reason: str = ""

    def __call__(self, elapsed: float) -> str | None:
        try:
            return self._poll(elapsed)
        except Exception as exc:  # noqa: BLE001 - a storage read racing a write: poll again
            self.reason = f"poll failed: {exc}"
            return None

    def _cursor(self) -> dict:
        for state in self.instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
            if state.instigator_name == "retrain_sensor":
                data = state.instigator_data
                cursor = getattr(data, "cursor", None)
                return json.loads(cursor) if cursor else {}
        return {}

    def _poll(self, elapsed: float) -> str | None:
        from ct_assets.defs import state

        runs = self.instance.get_runs_count()
        active = self.instance.get_runs_count(dg.RunsFilter(statuses=ACTIVE))
        featurised = len(self.instance.get_materialized_partitions(FEATURES))
        if featurised > self._featurised:
            self._featurised = featurised
            self.timeline["featurised"] = elapsed
        log = state.decision_log(self.instance)
        if len(log) and "first_champion" not in self.timeline:
            self.timeline["first_champion"] = elapsed
        cursor = self._cursor()
        first = log.decisions[0].effective_from if len(log) else None
        last_day = dt.date.fromisoformat(cursor["last_day"]) if cursor.get("last_day") else None
        judged = (last_day - first).days + 1 if first and last_day and last_day >= first else 0
        served_total = (self.landed[-1] - first).days + 1 if first else len(self.landed)
        self.samples.append(Sample(round(elapsed, 1), runs, featurised, judged))
        if first is None:
            self.progress("features built (days)", featurised, len(self.landed))
        else:
            self.progress("days judged by the retrain walk", judged, served_total)
        if self.until == "first-champion" and first is not None:
            self.done_at = self.timeline["first_champion"]
            return "first champion decided"
        if runs != self._last_change[0] or active:
            self._last_change = (runs, elapsed)
        if active == 0 and first is not None and not cursor.get("in_flight") \
                and self._settled(state, log, last_day, first):
            if self.done_at is None or runs != self._runs_at_done:
                self.done_at, self._runs_at_done = elapsed, runs
            elif elapsed - self.done_at >= self.quiet_s:
                self.caught_up = True
                self.timeline["done"] = self.done_at
                return "caught up"
        else:
            self.done_at = None
        if elapsed - self._last_change[1] > self.stall_s:
            return f"stalled: no run for {self.stall_s:.0f} s and not caught up"
        if elapsed > self.timeout_s:
            return f"timed out after {self.timeout_s:.0f} s"
        return None

    def _settled(self, state, log, last_day: dt.date | None, first: dt.date) -> bool:
        """Every featurised day from `first` on scored against its serving version, and the
        walk past the last of them."""
        from ct_assets.core import walk

        scored = state.scored_days(self.instance)
        if walk.to_rescore(scored, log):
            self.reason = "days to re-score"
            return False
        featurised = {dt.date.fromisoformat(k)
                      for k in self.instance.get_materialized_partitions(FEATURES)}
        served = sorted(d for d in featurised if d >= first)
        wrong = [d for d in served if scored.get(d) != log.version_serving(d)]
        if wrong:
            self.reason = f"{len(wrong)} day(s) not scored by their champion (first {wrong[0]})"
            return False
        if served and (last_day is None or last_day < served[-1]):
            self.reason = f"the walk is at {last_day}, the last served day is {served[-1]}"
            return False
        self.reason = ""
        return True
