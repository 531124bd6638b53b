"""When a row becomes known: availability as data, declared by each source.

A point-in-time feature may use a row only if the row was *available* at the flight's cutoff.
A label time (`time_hour`, a partition day) is not an availability: a weather row labelled
14:00 holds a report taken at 14:51; an outcome of day D exists only once D's batch is
published. Each source declares, per history table, one of three rules:

- `EventTime`: the row is known at a timestamp of its own (UTC), computed from its columns:
  a base timestamp column, plus minute columns (e.g. scheduled minute + departure delay), plus a
  fixed offset (e.g. the end of the period an observation covers);
- `DailyBatch`: the rows of local day D are published together, `published_after` after the
  start of D (local time): nothing of D is known before;
- `Static`: reference data, known all along.

`core/features.py` turns these declarations into SQL; the leakage test evaluates them on its
own, in pandas, so a join that ignores them is caught.
"""

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class EventTime:
    """A row is known at `base + sum(minute_columns) minutes + offset` (UTC)."""

    base: str
    minute_columns: tuple[str, ...] = ()
    offset: dt.timedelta = dt.timedelta(0)
    why: str = ""

    def sql(self, alias: str | None = None) -> str:
        """The availability timestamp as a DuckDB expression over the table's columns."""
        prefix = f"{alias}." if alias else ""
        parts = [f"{prefix}{self.base}"]
        parts += [f"to_minutes({prefix}{c}::BIGINT)" for c in self.minute_columns]
        seconds = int(self.offset.total_seconds())
        if seconds:
            parts.append(f"to_seconds({seconds}::BIGINT)")
        return " + ".join(parts)

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.base, *self.minute_columns)


@dataclass(frozen=True)
class DailyBatch:
    """The rows of local day D are known from `D 00:00 + published_after` (local time)."""

    published_after: dt.timedelta
    why: str = ""

    def published_at(self, day: dt.date) -> dt.datetime:
        """Local time at which day's batch is published."""
        return dt.datetime.combine(day, dt.time()) + self.published_after

    def last_published_day(self, local_ts: dt.datetime) -> dt.date:
        """The newest day whose batch is out at local time `local_ts`."""
        return (local_ts - self.published_after).date()

    def last_published_sql(self, local_ts_sql: str) -> str:
        """`last_published_day` as a DuckDB expression over a local TIMESTAMP expression."""
        seconds = int(self.published_after.total_seconds())
        return f"(({local_ts_sql}) - to_seconds({seconds}::BIGINT))::DATE"


@dataclass(frozen=True)
class Static:
    """Reference data: known all along (it describes the world, not a day)."""

    why: str = ""


Availability = EventTime | DailyBatch | Static


@dataclass(frozen=True)
class SourceAvailability:
    """What the feature definitions read, and when each of its rows becomes known.

    - `weather`: observations at the origin (an `EventTime`);
    - `departures`: the departure of a flight (an `EventTime`: when it actually left);
    - `outcomes`: the arrival delay of a flight (a `DailyBatch`: the day's published batch);
    - `planes`: the fleet reference (`Static`).
    `observed`: the timestamp a weather value describes (its age at the cutoff is a feature).
    """

    weather: EventTime
    departures: EventTime
    outcomes: DailyBatch
    planes: Static

    def describe(self) -> dict[str, str]:
        return {name: getattr(self, name).why for name in
                ("weather", "departures", "outcomes", "planes")}
