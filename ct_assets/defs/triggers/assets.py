"""The retrain policy's memory: why each retrain ran, the gate's verdict, and the thresholds
it ran under. The thresholds are learned from what retrains bought once it is known (their
realised gain in `shadow_scores`, `core.walk.thresholds_on`); this asset's `trigger` metadata
is where the learning reads why each retrain ran, and the `trigger_policy` table is the
history for people."""

import datetime as dt
import math

import dagster as dg
import pandas as pd

from ct_assets.core import policy, warehouse
from ct_assets.defs import state
from ct_assets.defs.common import WAREHOUSE_POOL, run_day
from ct_assets.defs.partitions import daily_partitions
from ct_assets.defs.tags import LEAD_TAG, REASONS_TAG, TRIGGER_TAG
from ct_assets.defs.train.candidate import candidate_model
from ct_assets.defs.train.champion import champion_model
from ct_assets.defs.train.common import latest_metadata
from ct_assets.defs.train.evaluation import model_evaluation
from ct_assets.resources import WarehouseResource

POLICY_COLUMNS = {
    "ds": "DATE", "kinds": "VARCHAR", "reasons": "VARCHAR", "lead_days": "BIGINT",
    "promoted": "BOOLEAN", "auc_gain": "DOUBLE", "fit_cpu_s": "DOUBLE",
    "drift_before": "DOUBLE", "drift_after": "DOUBLE", "performance_before": "DOUBLE",
    "performance_after": "DOUBLE", "run_id": "VARCHAR", "decided_at": "TIMESTAMP",
}


def _fit_cpu(context, day: dt.date) -> float | None:
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=candidate_model.key, asset_partitions=[day.isoformat()]),
        limit=1)
    if not records.records:
        return None
    value = records.records[0].asset_materialization.metadata.get("fit_cpu_s")
    return None if value is None else float(value.value)


@dg.asset(
    group_name="monitor",
    partitions_def=daily_partitions,
    pool=WAREHOUSE_POOL,
    deps=[champion_model],
    kinds={"duckdb"},
)
def trigger_policy(context: dg.AssetExecutionContext,
                   warehouse_db: WarehouseResource) -> dg.MaterializeResult:
    """After the retrain for day D is decided: why it ran (the run's trigger tags: drift,
    performance, predicted_*, stale, scheduled; manual when untagged), whether the candidate
    won the gate and by how much, what it cost, and the policy's thresholds before and after
    learning from it. One row per retrain in the `trigger_policy` table."""
    day = run_day(context)
    tags = context.run.tags
    kinds = [k for k in tags.get(TRIGGER_TAG, "manual").split(",") if k]
    unknown = set(kinds) - set(policy.KINDS)
    if unknown:
        raise dg.Failure(f"unknown trigger kinds {sorted(unknown)} in tag {TRIGGER_TAG}")
    verdict = latest_metadata(context, model_evaluation.key, day)
    promoted, gain = bool(verdict["promote"]), verdict.get("auc_gain")
    # what the retrain buys is learned later, from its shadow days: the thresholds in force
    # now are both "before" and "after" in the table
    before = after = state.thresholds(context.instance, as_of=day)
    lead = tags.get(LEAD_TAG)
    record = pd.DataFrame([{
        "ds": day, "kinds": ",".join(kinds), "reasons": tags.get(REASONS_TAG, ""),
        "lead_days": int(lead) if lead else None, "promoted": bool(promoted),
        "auc_gain": gain, "fit_cpu_s": _fit_cpu(context, day),
        "drift_before": before.drift, "drift_after": after.drift,
        "performance_before": before.performance, "performance_after": after.performance,
        "run_id": context.run.run_id,
        "decided_at": pd.Timestamp.now("UTC").tz_localize(None)}])
    with warehouse_db.connect() as conn:
        with warehouse.transaction(conn):
            warehouse.replace_partitions(conn, "trigger_policy", record, day,
                                         day + dt.timedelta(days=1), columns=POLICY_COLUMNS)
        history = conn.execute(
            "SELECT ds, kinds, promoted, auc_gain, drift_after, performance_after "
            "FROM trigger_policy ORDER BY ds DESC LIMIT 20").df()
    context.log.info(f"retrain for {day} ({', '.join(kinds)}): "
                     + ("promoted" if promoted else "not promoted")
                     + (f", held-out AUC gain {gain:+.4f}" if gain is not None else "")
                     + "; thresholds in force: " + ", ".join(
                         f"{name} {getattr(after, name):.4g}" for name in policy.SIGNALS)
                     + "; what it bought is learned from its shadow days (shadow_scores)")
    return dg.MaterializeResult(metadata={
        **{f"{name}_threshold": None if math.isinf(getattr(after, name))
           else getattr(after, name) for name in policy.SIGNALS},
        "trigger": ",".join(kinds),
        "promoted": bool(promoted),
        "auc_gain": None if gain is None else round(gain, 5),
        "thresholds_over_time": dg.MetadataValue.md(
            history.to_markdown(index=False, floatfmt=".4f")),
    })
