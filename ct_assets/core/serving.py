"""Who serves which day: one decision log, the single truth for every day.

Every change of champion is a `Decision` appended to the log: a gate decision (the candidate
won, or the champion was confirmed against it), a forced promotion or a rollback, each with
who or what decided, why, and the first day it takes effect. The model serving day D is the
version named by the newest decision (in log order) whose `effective_from` is on or before
D. Predictions, the drift reference, the performance promise, the retrain walk, `ct lineage`
and the registry alias all derive from this log; nothing else says who serves.

Decisions only move forward: a decision for a day older than the newest decision would
rewrite days already decided (and gate a candidate against a champion decided for a later
day, possibly trained on the candidate's own held-out days), so it is refused
(`refusal_for`). Pure functions: the Dagster assets, the sensors and `ct bench policies` call
them with the log they read.
"""

import datetime as dt
from dataclasses import dataclass, replace
from typing import Literal

Kind = Literal["gate", "forced", "rollback"]


@dataclass(frozen=True)
class Decision:
    """One entry of the log."""

    effective_from: dt.date
    version: str
    kind: Kind
    decided_by: str
    reason: str
    candidate: str | None = None      # the candidate a gate decision judged
    replaced: str | None = None       # the version that served the day before it took effect
    sequence: int = 0                 # position in the log

    @property
    def changed(self) -> bool:
        return self.version != self.replaced

    def as_metadata(self) -> dict:
        return {"version": self.version, "effective_from": self.effective_from.isoformat(),
                "kind": self.kind, "decided_by": self.decided_by, "reason": self.reason,
                "candidate": self.candidate or "", "replaced": self.replaced or ""}

    @classmethod
    def from_metadata(cls, meta: dict, sequence: int) -> "Decision":
        return cls(effective_from=dt.date.fromisoformat(str(meta["effective_from"])),
                   version=str(meta["version"]), kind=meta["kind"],
                   decided_by=str(meta.get("decided_by", "")), reason=str(meta.get("reason", "")),
                   candidate=str(meta.get("candidate") or "") or None,
                   replaced=str(meta.get("replaced") or "") or None, sequence=sequence)


class DecisionLog:
    """The decisions, in the order they were made."""

    def __init__(self, decisions: list[Decision] | None = None):
        self.decisions = sorted(decisions or [], key=lambda d: d.sequence)

    def __len__(self) -> int:
        return len(self.decisions)

    def append(self, decision: Decision) -> "DecisionLog":
        """A new log with `decision` appended (its sequence set after the last)."""
        sequence = (self.decisions[-1].sequence + 1) if self.decisions else 1
        return DecisionLog([*self.decisions, replace(decision, sequence=sequence)])

    def serving(self, day: dt.date) -> Decision | None:
        """The decision that makes a version serve `day`, or None before the first champion."""
        found = None
        for decision in self.decisions:
            if decision.effective_from <= day:
                found = decision
        return found

    def version_serving(self, day: dt.date) -> str | None:
        decision = self.serving(day)
        return decision.version if decision else None

    def versions_serving(self, days) -> dict[dt.date, str]:
        """The version serving each of `days` (days before the first champion left out)."""
        out = {}
        for day in days:
            version = self.version_serving(day)
            if version is not None:
                out[day] = version
        return out

    def newest(self) -> Decision | None:
        return self.decisions[-1] if self.decisions else None

    def current(self) -> str | None:
        """The version the registry alias `champion` mirrors: the newest decision's."""
        newest = self.newest()
        return newest.version if newest else None

    def previous(self) -> str | None:
        """The version the registry alias `previous` mirrors: the last one that served before
        the current champion, None if there never was another."""
        current = self.current()
        for decision in reversed(self.decisions):
            if decision.version != current:
                return decision.version
            if decision.replaced and decision.replaced != current:
                return decision.replaced
        return None

    def last_confirmed(self, day: dt.date) -> dt.date | None:
        """The day the champion serving `day` was last decided on (promoted, confirmed at the
        gate against a candidate, forced or rolled back to)."""
        decision = self.serving(day)
        return decision.effective_from if decision else None

    def champion_age(self, day: dt.date) -> int | None:
        """Days from the last decision serving `day` to `day`, None without a champion."""
        confirmed = self.last_confirmed(day)
        return None if confirmed is None else (day - confirmed).days

    def champion_to_beat(self, day: dt.date, candidate: str) -> str | None:
        """The version a candidate for `day` is gated against: the one serving `day`, or, if
        that is the candidate itself (a re-run), the one that served before it."""
        for decision in reversed(self.decisions):
            if decision.effective_from > day:
                continue
            if decision.version != candidate:
                return decision.version
            if decision.replaced and decision.replaced != candidate:
                return decision.replaced
        return None

    def refusal_for(self, day: dt.date) -> str | None:
        """Why no decision may be made for `day` (None if it may): the log moves forward."""
        newest = self.newest()
        if newest is None or day >= newest.effective_from:
            return None
        return (f"the champion was already decided for a later day, {newest.effective_from} "
                f"(version {newest.version}, {newest.kind} by {newest.decided_by}); a decision "
                f"for {day} would rewrite the days after it. Retrain for "
                f"{newest.effective_from} or later")

    def rollback_target(self) -> str | None:
        """The version a rollback restores: the one that served before the current one."""
        return self.previous()
