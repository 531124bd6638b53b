"""The retrain policy's memory: why each retrain ran, whether it helped, and the thresholds the
policy learned from that (`core.policy.adjust`). The thresholds have one reader,
`defs/state.thresholds` (this asset's materializations); the `trigger_policy` table is their
history for people."""

import datetime as dt

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
    before = state.thresholds(context.instance, before=day)
    after = before if gain is None else policy.adjust(
        before, policy.Outcome(kinds=frozenset(kinds), promoted=bool(promoted), auc_gain=gain))
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
    moved = (after.drift, after.performance) != (before.drift, before.performance)
    context.log.info(f"retrain for {day} ({', '.join(kinds)}): "
                     + ("promoted" if promoted else "not promoted")
                     + (f", AUC gain {gain:+.4f}" if gain is not None else "")
                     + (f"; thresholds drift {before.drift:.3f} → {after.drift:.3f}, "
                        f"performance {before.performance:.4f} → {after.performance:.4f}"
                        if moved else "; thresholds unchanged"))
    return dg.MaterializeResult(metadata={
        "drift_threshold": after.drift,
        "performance_threshold": after.performance,
        "trigger": ",".join(kinds),
        "promoted": bool(promoted),
        "auc_gain": None if gain is None else round(gain, 5),
        "thresholds_over_time": dg.MetadataValue.md(
            history.to_markdown(index=False, floatfmt=".4f")),
    })
