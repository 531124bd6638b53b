"""The loop's state: one reader per fact, and the store each one trusts.

- **Who serves which day**: the decision log (`core/serving.py`) is the sequence of
  `champion_model` materializations in the Dagster event log, in storage order. Every run,
  sensor and `ct` command reads the same instance (SQLite here, Postgres in a cluster), a
  decision is recorded by the very event that shows it in the UI, and a decision is appended
  only by `champion_model` runs (gate, forced promotion, rollback). The MLflow aliases
  `champion`/`previous` only mirror it: `reconcile_aliases` moves them back to the log's
  versions, which heals a crash between the two writes.
- **The trigger thresholds**: the `trigger_policy` materialization of the newest retrain
  decided before the day (the feedback loop's output; the warehouse table is its history for
  people).
- **What a model promised**: its training run in MLflow (`holdout_daily_auc`), where it was
  measured, next to the model it describes.
- **The signals**: each `feature_drift` / `model_performance` partition's own metadata (the
  newest materialization of the day), the values the UI shows.
"""

import datetime as dt

import dagster as dg

from ct_assets.core import policy
from ct_assets.core.serving import Decision, DecisionLog
from ct_assets.core.walk import Signals
from ct_assets.registry import ModelRegistryResource

CHAMPION_MODEL = dg.AssetKey("champion_model")
TRIGGER_POLICY = dg.AssetKey("trigger_policy")
FEATURE_DRIFT = dg.AssetKey("feature_drift")
MODEL_PERFORMANCE = dg.AssetKey("model_performance")
DAILY_PREDICTIONS = dg.AssetKey("daily_predictions")
PAGE = 1000


def _records(instance, key: dg.AssetKey):
    """Every materialization of `key`, oldest first."""
    cursor = None
    while True:
        page = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key),
                                               limit=PAGE, cursor=cursor, ascending=True)
        yield from page.records
        if not page.has_more:
            return
        cursor = page.cursor


def _metadata(record) -> dict:
    return {k: v.value for k, v in record.asset_materialization.metadata.items()}


def decision_log(instance) -> DecisionLog:
    """Who serves which day, as decided so far."""
    return DecisionLog([Decision.from_metadata(_metadata(r), sequence=r.storage_id)
                        for r in _records(instance, CHAMPION_MODEL)
                        if "effective_from" in r.asset_materialization.metadata])


def thresholds(instance, before: dt.date | None = None) -> policy.Thresholds:
    """The trigger thresholds learned from the retrains decided before `before` (all)."""
    found = None
    for record in _records(instance, TRIGGER_POLICY):
        day = dt.date.fromisoformat(record.partition_key)
        if before is None or day < before:
            found = _metadata(record)
    if found is None:
        return policy.Thresholds()
    return policy.Thresholds(drift=float(found["drift_threshold"]),
                             performance=float(found["performance_threshold"]))


def promise(registry: ModelRegistryResource, version: str) -> float | None:
    """The AUC `version` promised for one served day."""
    return registry.promised_auc(version)


def latest_by_day(instance, key: dg.AssetKey) -> dict[dt.date, dict]:
    """The newest materialization metadata of each partition of `key`."""
    out = {}
    for record in _records(instance, key):
        out[dt.date.fromisoformat(record.partition_key)] = _metadata(record)
    return out


def signals(instance) -> Signals:
    """Each served day's drift score and AUC drop, with the version each was measured on."""
    drift = {day: (float(m["drift_score"]), str(m["model_version"]))
             for day, m in latest_by_day(instance, FEATURE_DRIFT).items()
             if m.get("drift_score") is not None and m.get("model_version")}
    drop = {day: (None if m.get("auc_drop") is None else float(m["auc_drop"]),
                  str(m["model_version"]))
            for day, m in latest_by_day(instance, MODEL_PERFORMANCE).items()
            if m.get("model_version")}
    return Signals(drift=drift, drop=drop)


def scored_days(instance) -> dict[dt.date, str]:
    """Every day `feature_drift` materialized, with the version it was scored against ("" if
    no champion served it then)."""
    return {day: str(m.get("model_version") or "")
            for day, m in latest_by_day(instance, FEATURE_DRIFT).items()}


def reconcile_aliases(registry: ModelRegistryResource, log: DecisionLog) -> list[str]:
    """Make the registry aliases mirror the log; returns what it had to move."""
    return registry.set_aliases(log.current(), log.previous())
