"""Monitor: how the model serving each day actually did, once the day's outcomes are known."""

import datetime as dt

import dagster as dg
import pandas as pd

from ct_assets.core import evaluation, warehouse
from ct_assets.defs.common import WAREHOUSE_POOL, run_days
from ct_assets.defs.features.assets import flight_labels
from ct_assets.defs.partitions import daily_partitions
from ct_assets.defs.serve.assets import daily_predictions
from ct_assets.defs.train.assets import registry_failures
from ct_assets.registry import ModelRegistryResource
from ct_assets.resources import WarehouseResource

PERFORMANCE_COLUMNS = {
    "ds": "DATE", "model_version": "VARCHAR", "n": "BIGINT", "auc": "DOUBLE",
    "log_loss": "DOUBLE", "brier": "DOUBLE", "holdout_auc": "DOUBLE", "auc_drop": "DOUBLE",
}


@dg.asset(
    group_name="monitor",
    partitions_def=daily_partitions,
    pool=WAREHOUSE_POOL,
    deps=[daily_predictions, flight_labels],
    kinds={"duckdb"},
)
def model_performance(context: dg.AssetExecutionContext, warehouse_db: WarehouseResource,
                      model_registry: ModelRegistryResource) -> dg.MaterializeResult:
    """Day D's champion scored on D's labels once D is complete: AUC, log loss and Brier score,
    and the drop against the champion's own held-out AUC (what it promised when promoted).
    A positive `auc_drop` is the performance signal of the retrain policy."""
    start, end, days = run_days(context)
    with warehouse_db.connect() as conn:
        scored = conn.execute(
            "SELECT p.ds, p.model_version, p.p_delayed, l.is_delayed FROM daily_predictions p "
            "JOIN flight_labels l USING (ds, carrier, flight, origin) "
            "WHERE p.ds >= ? AND p.ds < ? AND l.is_delayed IS NOT NULL", [start, end]).df()
    if scored.empty:
        raise dg.Failure(f"no labelled predictions for {start} .. {end - dt.timedelta(days=1)}")
    scored["ds"] = pd.to_datetime(scored["ds"]).dt.date
    rows = []
    with registry_failures():
        promised = {v: model_registry.holdout_auc(v) for v in scored["model_version"].unique()}
    for (day, version), part in scored.groupby(["ds", "model_version"]):
        metrics = evaluation.metrics(part["is_delayed"].astype(bool).to_numpy(),
                                     part["p_delayed"].to_numpy())
        holdout = promised[version]
        rows.append({"ds": day, "model_version": version, "n": int(metrics["n"]),
                     "auc": metrics["auc"], "log_loss": metrics["log_loss"],
                     "brier": metrics["brier"], "holdout_auc": holdout,
                     "auc_drop": None if holdout is None else holdout - metrics["auc"]})
    frame = pd.DataFrame(rows)
    with warehouse_db.connect() as conn, warehouse.transaction(conn):
        warehouse.replace_partitions(conn, "model_performance", frame, start, end,
                                     columns=PERFORMANCE_COLUMNS)
    missing = sorted(set(days) - set(frame["ds"]))
    if missing:
        context.log.warning("no labelled predictions for " + ", ".join(map(str, missing)))
    last = frame.iloc[-1]
    return dg.MaterializeResult(metadata={
        "auc": round(float(last["auc"]), 4),
        "log_loss": round(float(last["log_loss"]), 4),
        "auc_drop": None if pd.isna(last["auc_drop"]) else round(float(last["auc_drop"]), 4),
        "model_version": str(last["model_version"]),
        "labelled_flights": int(frame["n"].sum()),
        "per_day": dg.MetadataValue.md(frame.to_markdown(index=False, floatfmt=".4f")),
    })
