"""Validate one day of flights: repair trivially recoverable spellings, split the rows into
valid and quarantined, and judge the day with blocking checks (schema, volume, drift of the
feed against the 28 passed days before it).

Row-level problems never fail a day: the row goes to `quarantined_flights` with its reasons.
Day-level problems fail a blocking check, which keeps the day's features, and every model
whose window would include the day, from materializing.
"""

import datetime as dt

import dagster as dg
import pandas as pd

from ct_assets.core import drift, profiles, validation, warehouse
from ct_assets.core.days import day_range
from ct_assets.core.errors import CTInputError
from ct_assets.defs.common import schema_of, warehouse_columns
from ct_assets.defs.partitions import daily_partitions
from ct_assets.defs.validate import status
from ct_assets.resources import ProfileStoreResource
from ct_assets.sources import nycflights13 as source

PROFILE_NAME = "flights"
REFERENCE_DAYS = 28
SPEC = source.flights_spec()
PROFILED_COLUMNS = [c.name for c in SPEC.columns if c.dtype != "timestamp"]
VALIDATED_COLUMNS = warehouse_columns(SPEC, {"_row": "BIGINT"})
QUARANTINE_COLUMNS = warehouse_columns(SPEC, {"_row": "BIGINT", "rules": "VARCHAR",
                                              "reason": "VARCHAR"})
THRESHOLDS = drift.DriftThresholds()

CHECKS = [
    dg.AssetCheckSpec("schema_as_expected", asset="validated_flights", blocking=True,
                      partitions_def=daily_partitions,
                      description="The validated table has exactly the declared columns/types."),
    dg.AssetCheckSpec("row_count_in_range", asset="validated_flights", blocking=True,
                      partitions_def=daily_partitions,
                      description="Validated rows within 0.5x the smallest .. 1.5x the largest "
                                  "of the previous 28 days that passed validation."),
    dg.AssetCheckSpec("no_feed_anomaly", asset="validated_flights", blocking=True,
                      partitions_def=daily_partitions,
                      description="No feed-integrity column moved against the merged profile "
                                  "of the previous 28 days that passed validation by more than "
                                  "its effect-size threshold (PSI, null-rate change, unseen "
                                  "categories)."),
]


def repaired_rows(conn, day: dt.date) -> tuple[pd.DataFrame, dict[str, int]]:
    """The day's ingested rows with the spec's repairs applied (the raw table is untouched)."""
    raw = conn.execute("SELECT * EXCLUDE (ds) FROM raw_flights WHERE ds = ? ORDER BY _row",
                       [day]).df()
    return validation.repair(raw, SPEC)


def profile_day(conn, profile_store: ProfileStoreResource, day: dt.date):
    """Profile the day's (repaired) ingested rows and store it: (profile, path, rows)."""
    rows, _ = repaired_rows(conn, day)
    view = profiles.profile_frame(rows, PROFILED_COLUMNS)
    return view, profile_store.write(PROFILE_NAME, day, view), len(rows)


def _check_schema(conn) -> dg.AssetCheckResult:
    actual = schema_of(conn, "validated_flights")
    diff = {c: (VALIDATED_COLUMNS.get(c), actual.get(c))
            for c in set(actual) | set(VALIDATED_COLUMNS)
            if VALIDATED_COLUMNS.get(c) != actual.get(c)}
    return dg.AssetCheckResult(
        check_name="schema_as_expected", passed=not diff,
        metadata={"differences": dg.MetadataValue.json({k: list(v) for k, v in diff.items()}),
                  "columns": len(actual)},
        description="schema matches" if not diff else f"columns differ: {sorted(diff)}")


def _check_row_count(conn, day: dt.date, count: int) -> dg.AssetCheckResult:
    # Days that failed their own checks do not teach what a normal day looks like.
    reference = status.passed_days(conn, status.FLIGHTS_STATUS,
                                   day - dt.timedelta(days=REFERENCE_DAYS), day)
    history = warehouse.counts_by_day(conn, "validated_flights",
                                      day - dt.timedelta(days=REFERENCE_DAYS), day)
    counts = [history[d] for d in reference if d in history]
    bounds = validation.expected_row_range(counts)
    if bounds is None:
        return dg.AssetCheckResult(
            check_name="row_count_in_range", passed=True,
            metadata={"rows": count, "history_days": len(counts)},
            description=f"{count} rows; fewer than 7 earlier passed days to learn a range from")
    low, high = bounds
    return dg.AssetCheckResult(
        check_name="row_count_in_range", passed=low <= count <= high,
        metadata={"rows": count, "expected_low": round(low), "expected_high": round(high),
                  "history_days": len(counts)},
        description=(f"{count} validated rows, expected {low:.0f}..{high:.0f} "
                     f"(learned from {len(counts)} earlier passed days)"))


def _profile_or_rebuild(conn, profile_store: ProfileStoreResource, day: dt.date, log):
    """The day's stored profile; a corrupt or missing one is rebuilt from the day's ingested
    rows (and said so), never silently left out. None only if the day was never ingested."""
    try:
        view = profile_store.read(PROFILE_NAME, day)
        problem = "missing"
    except CTInputError as exc:
        view, problem = None, f"unreadable ({exc.detail})"
    if view is not None:
        return view
    if not conn.execute("SELECT count(*) FROM raw_flights WHERE ds = ?", [day]).fetchall()[0][0]:
        return None
    view, path, n = profile_day(conn, profile_store, day)
    log.warning(f"profile of {day} was {problem}: rebuilt from its {n} ingested rows into {path}")
    return view


class FeedReference:
    """The merged profile of the passed days among the `REFERENCE_DAYS` before each day of a
    range validated in day order. The window moves a day at a time (`SlidingMerge`), so a
    range of N days costs about 3 N profile merges instead of 28 N. A day enters the window
    when the day after it is checked, so after its own verdict is written."""

    def __init__(self, conn, profile_store: ProfileStoreResource, log) -> None:
        self._conn, self._store, self._log = conn, profile_store, log
        self._window = profiles.SlidingMerge()
        self._role: dict[dt.date, str] = {}          # used | not passed | no profile

    def before(self, day: dt.date):
        """(merged view or None, days used, days skipped because they did not pass)."""
        start = day - dt.timedelta(days=REFERENCE_DAYS)
        held = self._window.days()
        if held and held[-1] >= day:                 # not a move forward: start again
            self._window, self._role, held = profiles.SlidingMerge(), {}, []
        while held and held[0] < start:              # the oldest days leave
            self._role.pop(self._window.pop())
            held = held[1:]
        first_new = held[-1] + dt.timedelta(days=1) if held else start
        passed = set(status.passed_days(self._conn, status.FLIGHTS_STATUS, first_new, day))
        for earlier in day_range(first_new, day):
            view = (_profile_or_rebuild(self._conn, self._store, earlier, self._log)
                    if earlier in passed else None)
            self._window.push(earlier, view)
            self._role[earlier] = ("not passed" if earlier not in passed
                                   else "used" if view is not None else "no profile")
        roles = list(self._role.values())
        return self._window.merged(), roles.count("used"), roles.count("not passed")


def _check_drift(conn, profile_store: ProfileStoreResource, day: dt.date, log,
                 reference: FeedReference | None = None):
    current = _profile_or_rebuild(conn, profile_store, day, log)
    reference = reference or FeedReference(conn, profile_store, log)
    reference, used, skipped = reference.before(day)
    if current is None:
        return dg.AssetCheckResult(check_name="no_feed_anomaly", passed=False,
                                   description=f"no profile and no ingested rows for {day}"), None
    if reference is None:
        return dg.AssetCheckResult(
            check_name="no_feed_anomaly", passed=True,
            description="no earlier passed days yet: nothing to compare against"), None
    scores = drift.column_drift(reference, current, SPEC, THRESHOLDS)
    integrity = scores[scores["role"] == "integrity"]
    alarms = integrity[integrity["severity"] >= 1]
    table = drift.markdown_table(scores)
    return dg.AssetCheckResult(
        check_name="no_feed_anomaly", passed=alarms.empty,
        metadata={
            "moved_most": dg.MetadataValue.md(table),
            "reference_days": used,
            "reference_days_skipped": skipped,
            "max_integrity_severity": float(integrity["severity"].max()),
            "max_monitor_severity": float(scores.loc[scores["role"] == "monitor",
                                                     "severity"].max()),
        },
        description=("feed columns within thresholds" if alarms.empty else
                     "feed anomaly in " + ", ".join(
                         f"{r.column} ({r.metric} severity {r.severity:.2f})"
                         for r in alarms.itertuples()))), table


def validate_day(conn, profile_store: ProfileStoreResource, day: dt.date, log,
                 reference: FeedReference | None = None) -> dict:
    """Repair, split, store and judge one day of flights; returns its checks and what the UI
    shows. Rows, quarantine and the day's verdict commit together."""
    rows, repairs = repaired_rows(conn, day)
    split = validation.split_rows(rows, SPEC, day)
    end = day + dt.timedelta(days=1)
    with warehouse.transaction(conn):
        n_valid = warehouse.replace_partitions(conn, "validated_flights",
                                               split.valid.assign(ds=day), day, end,
                                               columns=VALIDATED_COLUMNS)
        n_quarantined = warehouse.replace_partitions(conn, "quarantined_flights",
                                                     split.quarantined.assign(ds=day), day, end,
                                                     columns=QUARANTINE_COLUMNS)
        if n_valid + n_quarantined != len(rows):
            raise dg.Failure(f"{day}: {len(rows)} landed rows but {n_valid} validated + "
                             f"{n_quarantined} quarantined")
        drift_check, table = _check_drift(conn, profile_store, day, log, reference)
        checks = [_check_schema(conn), _check_row_count(conn, day, n_valid), drift_check]
        status.write_status(conn, status.FLIGHTS_STATUS, day,
                            [c.check_name for c in checks if not c.passed])
    return {"day": day, "checks": checks, "landed": len(rows), "valid": n_valid,
            "quarantined": n_quarantined, "reasons": split.reason_counts(), "repairs": repairs,
            "examples": split.quarantined[["_row", "reason"]].head(10), "drift_table": table}
