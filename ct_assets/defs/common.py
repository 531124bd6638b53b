"""Helpers shared by the stages: day ranges of a run, the warehouse pool, UI metadata, how a
range run records each day (its own metadata, its own check results, a refused day failing
alone), and the automation condition that keeps downstream assets fresh."""

import datetime as dt
from collections.abc import Iterator, Mapping

import dagster as dg
import pandas as pd
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.definitions.declarative_automation.operators import EntityMatchesCondition

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


def emit_days(context: dg.AssetExecutionContext, per_day: Mapping[dt.date, dict],
              refused: Mapping[dt.date, str] | None = None,
              shared: dict | None = None) -> Iterator:
    """Record a range run day by day: each materialized day with its own metadata, and each
    refused day failing alone, with its reason (the asset needs `output_required=False`).

    Without a refused day the run returns one `MaterializeResult` and each day's metadata is
    attached to its own partition (provenance tags kept). With one, each good day is recorded
    by an `AssetMaterialization` of its own, the reason of each refused day by an observation
    on its partition, and the step fails naming them: Dagster then shows the good days
    materialized and only the refused ones failed, and automation re-requests a refused day
    only when its inputs change.
    """
    refused = dict(refused or {})
    shared = dict(shared or {})
    if not refused:
        for day, metadata in per_day.items():
            context.add_asset_metadata(metadata, partition_key=day.isoformat())
        yield dg.MaterializeResult(metadata=shared)
        return
    for day, metadata in per_day.items():
        yield dg.AssetMaterialization(asset_key=context.asset_key, partition=day.isoformat(),
                                      metadata={**shared, **metadata})
    for day, reason in sorted(refused.items()):
        context.log.error(f"{context.asset_key.to_user_string()} {day}: {reason}")
        yield dg.AssetObservation(asset_key=context.asset_key, partition=day.isoformat(),
                                  metadata={"refused": reason})
    raise dg.Failure(
        description=f"{len(refused)} of {len(refused) + len(per_day)} day(s) refused: "
                    + " | ".join(f"{d}: {r}" for d, r in sorted(refused.items())),
        metadata={"refused_days": ", ".join(str(d) for d in sorted(refused)),
                  "materialized_days": len(per_day)})


def emit_checked_days(context: dg.AssetExecutionContext, per_day: Mapping[dt.date, dict],
                      checks: Mapping[dt.date, list[dg.AssetCheckResult]],
                      shared: dict | None = None) -> Iterator:
    """Record a range run of an asset with per-day blocking checks: every day materialized
    with its own metadata, and each check's result recorded on its own partition.

    Dagster 1.13 turns an `AssetCheckResult` of a multi-partition run into one unpartitioned
    result (the per-day rows stay PLANNED); an `AssetCheckEvaluation` with `partition=` and
    the day's new materialization as its target fills them. The events are non-blocking on
    purpose: blocking acts per step, so one bad day would fail the run of all the good ones.
    The specs stay `blocking=True`, which is what automation (`all_deps_blocking_checks_passed`
    and `own_day_checks_passed`) and the UI read: a failed day holds back its own downstream
    only. Assets that read a day also refuse it themselves (`validation_status`).
    """
    for day, metadata in per_day.items():
        context.add_asset_metadata(metadata, partition_key=day.isoformat())
    yield dg.MaterializeResult(metadata=dict(shared or {}))
    keys = [d.isoformat() for d in checks]
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=context.asset_key, asset_partitions=keys),
        limit=len(keys) * 2).records
    latest = {}
    for record in records:                       # newest first
        latest.setdefault(record.partition_key, record)
    for day, results in checks.items():
        record = latest[day.isoformat()]
        target = AssetCheckEvaluationTargetMaterializationData(
            storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp)
        for result in results:
            yield dg.AssetCheckEvaluation(
                asset_key=context.asset_key, check_name=result.check_name,
                partition=day.isoformat(), passed=result.passed, metadata=result.metadata,
                severity=dg.AssetCheckSeverity.ERROR, blocking=False,
                description=result.description, target_materialization_data=target)
    for spec in context.assets_def.check_specs:
        yield dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(
            spec.key))


def own_day_checks_passed(*check_keys: dg.AssetCheckKey) -> dg.AutomationCondition:
    """True for day D when every given check passed on day D itself (or is requested now).

    A dependency read through a window (features of D read 30 days of validated flights)
    makes Dagster's dep conditions true if *any* day of the window matches, so
    `all_deps_blocking_checks_passed` would not hold back a day whose own check failed. The
    target declares no dependency on the check, so Dagster maps D to the check's partition D
    one to one. (`EntityMatchesCondition` is Dagster's own building block for this; 1.13 has
    no public constructor for a condition on another entity.)
    """
    AC = dg.AutomationCondition
    conditions = [EntityMatchesCondition(key=key,
                                         operand=AC.check_passed() | AC.will_be_requested())
                  for key in check_keys]
    combined = conditions[0]
    for condition in conditions[1:]:
        combined = combined & condition
    return combined.with_label("own_day_checks_passed")


def fresh_with_history(history: list, checks: list[dg.AssetCheckKey]) -> dg.AutomationCondition:
    """`fresh_when_upstream_is` for an asset that reads a window of earlier days of `history`:
    requested when its own day passed `checks`, refreshed whenever any day of a window it
    read is updated, and never held back by a missing or failed *history* day (the asset
    skips those days and says which)."""
    AC = dg.AutomationCondition
    needed = (AC.missing() & ~AC.execution_failed()) | AC.any_deps_updated().since_last_handled()
    ready = (~AC.any_deps_missing().ignore(dg.AssetSelection.assets(*history))
             & ~AC.any_deps_in_progress() & ~AC.in_progress() & own_day_checks_passed(*checks))
    return (needed & ready).with_label("fresh_with_history")


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
