"""Shadow scoring: every candidate judged at the gate, promoted or not, scored beside the
champion it was judged against on the labelled days it would have served. What a retrain
bought, measured on the days after it instead of guessed from three held-out days: the
retrain policy learns its thresholds from it (`core.walk.outcomes`)."""

import datetime as dt
import json

import dagster as dg
import numpy as np

from ct_assets.core import evaluation, policy, walk
from ct_assets.defs import state
from ct_assets.defs.common import WAREHOUSE_POOL, fresh_when_upstream_is, run_day
from ct_assets.defs.features.assets import flight_features, flight_labels
from ct_assets.defs.partitions import daily_partitions
from ct_assets.defs.train import data
from ct_assets.defs.train.champion import champion_model
from ct_assets.defs.train.common import registry_failures
from ct_assets.registry import ModelRegistryResource
from ct_assets.resources import WarehouseResource

SHADOW_DAYS = policy.PolicyConfig().feedback_days


def _served_days() -> dg.TimeWindowPartitionMapping:
    """Partition C (a candidate for day C) reads the days it would have served: C .. C+6."""
    return dg.TimeWindowPartitionMapping(start_offset=0, end_offset=SHADOW_DAYS - 1,
                                         allow_nonexistent_upstream_partitions=True)


@dg.asset(
    group_name="monitor",
    partitions_def=daily_partitions,
    pool=WAREHOUSE_POOL,
    deps=[champion_model, *(dg.AssetDep(a, partition_mapping=_served_days())
                            for a in (flight_features, flight_labels))],
    kinds={"lightgbm", "duckdb"},
    automation_condition=fresh_when_upstream_is(ignore_missing=[flight_features,
                                                                flight_labels]),
)
def shadow_scores(context: dg.AssetExecutionContext, warehouse_db: WarehouseResource,
                  model_registry: ModelRegistryResource) -> dg.MaterializeResult:
    """The candidate of day C (promoted or not) against the champion it was judged against, on
    each labelled day of C .. C+6 as the labels arrive: both AUCs and the gain; once the seven
    days are in, its realised gain (the mean), which is what the retrain policy learns its
    thresholds from. Days without a gate decision against a champion have nothing to score."""
    day = run_day(context)
    pair = walk.shadowed(state.decision_log(context.instance)).get(day)
    if pair is None:
        return dg.MaterializeResult(metadata={
            "candidate_version": "", "gains": dg.MetadataValue.json({}),
            "note": "no candidate was judged against a champion for this day"})
    candidate, rival = pair
    last = day + dt.timedelta(days=SHADOW_DAYS)
    with warehouse_db.connect() as conn:
        frame = data.labelled_features(conn, day, last)
    frame = frame[frame["is_delayed"].notna()]
    with registry_failures():
        models = {v: model_registry.load(v) for v in (candidate, rival)}
    rows = []
    for served, part in frame.groupby("ds", sort=True):
        y = part["is_delayed"].astype(bool).to_numpy()
        aucs = {v: evaluation.auc(y, m.predict_proba(part)) for v, m in models.items()}
        rows.append({"day": served.isoformat(), "candidate_auc": round(aucs[candidate], 5),
                     "champion_auc": round(aucs[rival], 5),
                     "gain": aucs[candidate] - aucs[rival], "flights": int(len(y))})
    gains = {r["day"]: None if np.isnan(r["gain"]) else r["gain"] for r in rows}
    known = [g for g in gains.values() if g is not None]
    complete = bool(len(frame)) and frame["ds"].max() >= last - dt.timedelta(days=1)
    realised = float(np.mean(known)) if known and complete else None
    table = "\n".join(["| day | candidate AUC | champion AUC | gain |", "|---|---:|---:|---:|"]
                      + [f"| {r['day']} | {r['candidate_auc']:.4f} | {r['champion_auc']:.4f}"
                         f" | {r['gain']:+.4f} |" for r in rows])
    context.log.info(f"candidate v{candidate} against v{rival}: {len(rows)} day(s) scored"
                     + (f", realised gain {realised:+.4f}" if realised is not None else ""))
    return dg.MaterializeResult(metadata={
        "candidate_version": candidate, "champion_version": rival,
        "gains": dg.MetadataValue.json(json.loads(json.dumps(gains))),
        "days_scored": len(rows),
        "realised_gain": None if realised is None else round(realised, 5),
        "per_day": dg.MetadataValue.md(table),
    })
