"""Serve: each day's flights scored by the champion that serves that day."""

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd

from ct_assets.core import loop, warehouse
from ct_assets.core.features import FEATURE_NAMES
from ct_assets.defs import state
from ct_assets.defs.common import SINGLE_RUN, WAREHOUSE_POOL, fresh_when_upstream_is, run_days
from ct_assets.defs.features.assets import flight_features
from ct_assets.defs.partitions import daily_partitions
from ct_assets.defs.train.champion import champion_model
from ct_assets.registry import ModelRegistryResource
from ct_assets.resources import WarehouseResource

PREDICTION_COLUMNS = {"ds": "DATE", "carrier": "VARCHAR", "flight": "BIGINT",
                      "origin": "VARCHAR", "p_delayed": "DOUBLE", "model_version": "VARCHAR"}


@dg.asset(
    group_name="serve",
    partitions_def=daily_partitions,
    backfill_policy=SINGLE_RUN,
    pool=WAREHOUSE_POOL,
    # champion_model exists only on days a retrain was decided; a missing partition does not
    # hold predictions back.
    deps=[champion_model, flight_features],
    kinds={"duckdb", "lightgbm"},
    automation_condition=fresh_when_upstream_is(ignore_missing=[champion_model]),
)
def daily_predictions(context: dg.AssetExecutionContext, warehouse_db: WarehouseResource,
                      model_registry: ModelRegistryResource) -> dg.MaterializeResult:
    """Day D's flights scored by the champion serving D (the decision log's: the newest
    decision taking effect on or before D), each row carrying the model version that scored
    it, and the day's CBPE: the AUC the champion is expected to reach on D from its
    calibrated scores, before any label (`estimated_auc`, its stated error, and
    `estimated_drop` against the estimate on its held-out days). Before the first champion
    there is nothing to score with: the run says so and writes no rows."""
    start, end, days = run_days(context)
    serving = state.decision_log(context.instance).versions_serving(days)
    per_day = {day: {"model_version": serving.get(day, "none")} for day in days}
    with warehouse_db.connect() as conn:
        unserved = [d for d in days if d not in serving]
        if unserved:
            context.log.warning("no champion serves " + ", ".join(map(str, unserved))
                                + " yet: no predictions for those days")
        if not serving:
            for day, metadata in per_day.items():
                context.add_asset_metadata(metadata, partition_key=day.isoformat())
            return dg.MaterializeResult(metadata={
                "dagster/row_count": 0, "served": False,
                "days": f"{start} .. {end - dt.timedelta(days=1)}"})
        frame = conn.execute(
            "SELECT ds, carrier, flight, origin, "
            + ", ".join(c for c in FEATURE_NAMES if c not in ("carrier", "origin"))
            + " FROM flight_features WHERE ds >= ? AND ds < ?", [start, end]).df()
        frame["ds"] = pd.to_datetime(frame["ds"]).dt.date
        frame = frame[frame["ds"].isin(serving)]
        frame["model_version"] = frame["ds"].map(serving)
        frame["p_delayed"] = np.nan
        for version in sorted(set(serving.values())):
            rows = frame["model_version"] == version
            frame.loc[rows, "p_delayed"] = model_registry.load(version).predict_proba(
                frame[rows])
        out = frame[list(PREDICTION_COLUMNS)]
        with warehouse.transaction(conn):
            written = warehouse.replace_partitions(conn, "daily_predictions", out, start, end,
                                                   columns=PREDICTION_COLUMNS)
    for day, part in frame.groupby("ds"):
        # the early performance signal: CBPE of the day from the champion's own calibration
        estimate, drop = loop.performance_estimate(model_registry.load(serving[day]),
                                                   part["p_delayed"].to_numpy())
        if drop is not None:
            per_day[day].update(estimated_auc=round(estimate.auc, 5),
                                estimated_auc_sd=round(estimate.sd, 5), estimated_drop=drop)
    for day, metadata in per_day.items():
        context.add_asset_metadata(metadata, partition_key=day.isoformat())
    return dg.MaterializeResult(metadata={
        "dagster/row_count": written,
        "served": True,
        "model_versions": ", ".join(sorted(set(serving.values()))),
        "unserved_days": ", ".join(map(str, unserved)) or "none",
        "mean_p_delayed": round(float(out["p_delayed"].mean()), 4) if len(out) else 0.0,
        "days": f"{start} .. {end - dt.timedelta(days=1)}",
    })
