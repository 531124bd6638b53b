"""The loop's state: one reader per fact, and the store each one trusts.

- **Who serves which day**: the decision log (`core/serving.py`) is the sequence of
  `champion_model` materializations in the Dagster event log, in storage order. Every run,
  sensor and `ct` command reads the same instance (SQLite here, Postgres in a cluster), a
  decision is recorded by the very event that shows it in the UI, and a decision is appended
  only by `champion_model` runs (gate, forced promotion, rollback). The MLflow aliases
  `champion`/`previous` only mirror it: `reconcile_aliases` moves them back to the log's
  versions, which heals a crash between the two writes.
- **The trigger thresholds**: learned, never stored: `core.walk.thresholds_on` folds the
  outcomes known by a day (each retrain's kinds from its `trigger_policy` materialization,
  its realised gain from `shadow_scores`) over the core defaults; the retrain sensor, the
  `trigger_policy` asset and `ct bench policies` all compute them this way.
- **What a model promised**: its training run in MLflow (`holdout_daily_auc`), where it was
  measured, next to the model it describes.
- **The signals**: each `feature_drift` / `model_performance` / `daily_predictions` /
  `shadow_scores` partition's own metadata (the newest materialization of the day), the
  values the UI shows.
"""

import datetime as dt
import math

import dagster as dg

from ct_assets.core import policy, walk
from ct_assets.core.serving import Decision, DecisionLog
from ct_assets.core.walk import Signals
from ct_assets.registry import ModelRegistryResource

CHAMPION_MODEL = dg.AssetKey("champion_model")
TRIGGER_POLICY = dg.AssetKey("trigger_policy")
FEATURE_DRIFT = dg.AssetKey("feature_drift")
MODEL_PERFORMANCE = dg.AssetKey("model_performance")
DAILY_PREDICTIONS = dg.AssetKey("daily_predictions")
SHADOW_SCORES = dg.AssetKey("shadow_scores")
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


def thresholds(instance, as_of: dt.date) -> policy.Thresholds:
    """The trigger thresholds a day is judged with: the core defaults, learned from the
    realised gains of the retrains whose shadow days ended by `as_of` (what the retrains were
    for and what they bought: the served days' own signals play no part)."""
    retrains, shadow = _feedback(instance)
    return walk.thresholds_on(Signals(drift={}, drop={}, retrains=retrains, shadow=shadow),
                              decision_log(instance), as_of, policy.Thresholds(),
                              policy.PolicyConfig())


def promise(registry: ModelRegistryResource, version: str) -> float | None:
    """The AUC `version` promised for one served day."""
    return registry.promised_auc(version)


def latest_by_day(instance, key: dg.AssetKey) -> dict[dt.date, dict]:
    """The newest materialization metadata of each partition of `key`. Only those records
    are read: a catch-up re-scores days many times, and a year's sensor tick would otherwise
    read every materialization each day ever had."""
    newest = instance.event_log_storage.get_latest_storage_id_by_partition(
        key, dg.DagsterEventType.ASSET_MATERIALIZATION)
    ids = sorted(newest.values())
    out = {}
    for i in range(0, len(ids), PAGE):
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, storage_ids=ids[i:i + PAGE]), limit=PAGE)
        for record in page.records:
            out[dt.date.fromisoformat(record.partition_key)] = _metadata(record)
    return out


def _feedback(instance) -> tuple[dict, dict]:
    """Why each retrain ran (its day: its kinds) and what each candidate's shadow days scored
    (its day: served day: AUC gain over the champion it was gated against)."""
    retrains = {day: frozenset(k for k in str(m.get("trigger", "")).split(",") if k)
                for day, m in latest_by_day(instance, TRIGGER_POLICY).items()}
    shadow = {day: {dt.date.fromisoformat(d): math.nan if g is None else float(g)
                    for d, g in (m.get("gains") or {}).items()}
              for day, m in latest_by_day(instance, SHADOW_SCORES).items()
              if m.get("candidate_version")}
    return retrains, shadow


def _versioned(by_day: dict[dt.date, dict], key: str) -> dict:
    return {day: (None if m.get(key) is None else float(m[key]), str(m["model_version"]))
            for day, m in by_day.items() if m.get("model_version")}


def signals(instance, drift_by_day: dict[dt.date, dict] | None = None) -> Signals:
    """Each served day's signals with the version each was measured on, the kinds of each
    retrain and the shadow scores of each candidate. `drift_by_day`: `feature_drift`'s
    `latest_by_day`, when the caller has read it already."""
    performance = latest_by_day(instance, MODEL_PERFORMANCE)
    if drift_by_day is None:
        drift_by_day = latest_by_day(instance, FEATURE_DRIFT)
    drift = {day: (float(m["drift_score"]), str(m["model_version"]))
             for day, m in drift_by_day.items()
             if m.get("drift_score") is not None and m.get("model_version")}
    retrains, shadow = _feedback(instance)
    return Signals(drift=drift, drop=_versioned(performance, "auc_drop"),
                   estimate=_versioned(latest_by_day(instance, DAILY_PREDICTIONS),
                                       "estimated_drop"),
                   refit=_versioned(performance, "refit_gain"),
                   retrains=retrains, shadow=shadow)


def scored_days(instance, drift_by_day: dict[dt.date, dict] | None = None
                ) -> dict[dt.date, str]:
    """Every day `feature_drift` materialized, with the version it was scored against ("" if
    no champion served it then). `drift_by_day` as for `signals`."""
    if drift_by_day is None:
        drift_by_day = latest_by_day(instance, FEATURE_DRIFT)
    return {day: str(m.get("model_version") or "") for day, m in drift_by_day.items()}


def reconcile_aliases(registry: ModelRegistryResource, log: DecisionLog) -> list[str]:
    """Make the registry aliases mirror the log; returns what it had to move."""
    return registry.set_aliases(log.current(), log.previous())
