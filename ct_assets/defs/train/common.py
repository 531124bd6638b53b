"""Helpers of the train stage: registry failures in the user's words, the decision log as it
stands for the day being decided, and a materialization's metadata."""

import contextlib
import datetime as dt
from collections.abc import Iterator

import dagster as dg

from ct_assets.core.serving import DecisionLog
from ct_assets.defs import state
from ct_assets.registry import RegistryUnavailable


@contextlib.contextmanager
def registry_failures() -> Iterator[None]:
    """An unreachable or read-only MLflow store fails the step with the store's own words."""
    try:
        yield
    except RegistryUnavailable as exc:
        raise dg.Failure(description=str(exc)) from exc


def latest_metadata(context, asset_key: dg.AssetKey, day: dt.date) -> dict:
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[day.isoformat()]), limit=1)
    if not records.records:
        raise dg.Failure(f"{asset_key.to_user_string()} has no materialization for {day}")
    return {k: v.value for k, v in records.records[0].asset_materialization.metadata.items()}


def log_for(context, asset: str, day: dt.date) -> DecisionLog:
    """The decision log, refusing a day older than its newest decision (decisions only move
    forward: see `core/serving.py`)."""
    log = state.decision_log(context.instance)
    refusal = log.refusal_for(day)
    if refusal:
        raise dg.Failure(description=f"{asset} {day}: refusing: {refusal}",
                         metadata={"newest_decision": str(log.newest().effective_from)})
    return log
