"""The retrain policy's memory: why each retrain ran, whether it helped, and the thresholds the
policy learned from that (`core.policy.adjust`). The retrain sensor reads the current
thresholds from this asset's latest materialization."""

import datetime as dt

import dagster as dg
import pandas as pd

from ct_assets.core import policy, warehouse
from ct_assets.defs.common import WAREHOUSE_POOL, run_day
from ct_assets.defs.partitions import daily_partitions
from ct_assets.defs.train.assets import candidate_model, champion_model
from ct_assets.resources import WarehouseResource

TRIGGER_TAG = "ct/trigger"          # comma-separated `core.policy.KINDS` of a retrain run
REASONS_TAG = "ct/reasons"
LEAD_TAG = "ct/lead_days"
RETRAIN_FOR_TAG = "ct/retrain_for"  # the partition a retrain run trains for

POLICY_COLUMNS = {
    "ds": "DATE", "kinds": "VARCHAR", "reasons": "VARCHAR", "lead_days": "BIGINT",
    "promoted": "BOOLEAN", "auc_gain": "DOUBLE", "fit_cpu_s": "DOUBLE",
    "drift_before": "DOUBLE", "drift_after": "DOUBLE", "performance_before": "DOUBLE",
    "performance_after": "DOUBLE", "run_id": "VARCHAR", "decided_at": "TIMESTAMP",
}


def current_thresholds(conn, before: dt.date) -> policy.Thresholds:
    """The thresholds learned from every retrain decided before `before`."""
    if not warehouse.table_exists(conn, "trigger_policy"):
        return policy.Thresholds()
    rows = conn.execute("SELECT drift_after, performance_after FROM trigger_policy "
                        "WHERE ds < ? ORDER BY ds DESC LIMIT 1", [before]).fetchall()
    if not rows:
        return policy.Thresholds()
    return policy.Thresholds(drift=rows[0][0], performance=rows[0][1])


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
    with warehouse_db.connect() as conn:
        gate_rows = conn.execute("SELECT promote, candidate_auc, champion_auc FROM "
                                 "gate_decisions WHERE ds = ?", [day]).fetchall()
        if not gate_rows:
            raise dg.Failure(f"no gate decision for {day}: materialize model_evaluation first")
        promoted, cand_auc, champ_auc = gate_rows[0]
        before = current_thresholds(conn, day)
    gain = None if champ_auc is None else cand_auc - champ_auc
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
