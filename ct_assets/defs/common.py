"""Helpers shared by the stages: day ranges of a run, the warehouse pool, UI metadata, and
the automation condition that keeps downstream assets fresh."""

import datetime as dt

import dagster as dg
import pandas as pd

from ct_assets.core.days import day_range
from ct_assets.core.schema import DUCKDB_TYPES, TableSpec

# DuckDB allows one writer process per file; every asset that opens the warehouse takes a slot
# of this pool (limit 1, set in dagster.yaml), so concurrent runs queue instead of failing.
WAREHOUSE_POOL = "warehouse"

# One run per backfilled range instead of one per day: a Dagster run costs seconds before any
# work starts, and every asset here processes a window of days.
SINGLE_RUN = dg.BackfillPolicy.single_run()


def run_days(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date, list[dt.date]]:
    """[start, end) and the days of the partition range this run materializes."""
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()
    return start, end, list(day_range(start, end))


def run_day(context: dg.AssetExecutionContext) -> dt.date:
    """The one day of a run of an asset that materializes a day per run."""
    _, _, days = run_days(context)
    if len(days) != 1:
        raise dg.Failure(f"{context.asset_key.to_user_string()} runs one day at a time; "
                         f"got {len(days)} days")
    return days[0]


def warehouse_columns(spec: TableSpec, extra: dict[str, str] | None = None) -> dict[str, str]:
    """DDL of a warehouse table holding `spec`'s rows: `ds` first, then the spec's columns."""
    columns = {"ds": "DATE"}
    columns.update({c.name: DUCKDB_TYPES[c.dtype] for c in spec.columns})
    columns.update(extra or {})
    return columns


def table_schema(columns: dict[str, str], descriptions: dict[str, str] | None = None):
    descriptions = descriptions or {}
    return dg.TableSchema(columns=[
        dg.TableColumn(name, dtype, description=descriptions.get(name))
        for name, dtype in columns.items()
    ])


def schema_of(conn, table: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = ? ORDER BY ordinal_position", [table]).fetchall()
    return dict(rows)


def per_day_markdown(frame: pd.DataFrame) -> dg.MetadataValue:
    return dg.MetadataValue.md(frame.to_markdown(index=False))


def fresh_when_upstream_is(ignore_missing=()) -> dg.AutomationCondition:
    """Materialize a partition once all its inputs exist and passed their blocking checks.

    `eager()` alone is not enough here: it looks only at the latest day and never requests a
    partition that is already missing on its first evaluation (DAGSTER_NOTES.md §2), while
    days land in batches. This requests every missing partition whose inputs are ready, and
    re-requests a partition when an input is updated; a failed partition waits for a human or
    for new input instead of being retried every tick. Inputs in `ignore_missing` are optional:
    their absence does not hold the partition back, their update still refreshes it.
    """
    AC = dg.AutomationCondition
    needed = (AC.missing() & ~AC.execution_failed()) | AC.any_deps_updated().since_last_handled()
    missing = AC.any_deps_missing()
    if ignore_missing:
        missing = missing.ignore(dg.AssetSelection.assets(*ignore_missing))
    ready = (~missing & ~AC.any_deps_in_progress()
             & AC.all_deps_blocking_checks_passed() & ~AC.in_progress())
    return (needed & ready).with_label("fresh_when_upstream_is")
