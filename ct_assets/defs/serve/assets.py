"""Serve: each day's flights scored by the champion that serves that day."""

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd

from ct_assets.core import warehouse
from ct_assets.core.features import FEATURE_NAMES
from ct_assets.defs.common import SINGLE_RUN, WAREHOUSE_POOL, fresh_when_upstream_is, run_days
from ct_assets.defs.features.assets import flight_features
from ct_assets.defs.partitions import daily_partitions
from ct_assets.defs.train.assets import champion_model
from ct_assets.registry import ModelRegistryResource
from ct_assets.resources import WarehouseResource

PREDICTION_COLUMNS = {"ds": "DATE", "carrier": "VARCHAR", "flight": "BIGINT",
                      "origin": "VARCHAR", "p_delayed": "DOUBLE", "model_version": "VARCHAR"}


def serving_versions(conn, start: dt.date, end: dt.date) -> dict[dt.date, str]:
    """The version serving each day of [start, end): the champion decided for that day, or
    else the last one decided before it. Days before the first champion are left out."""
    if not warehouse.table_exists(conn, "champion_history"):
        return {}
    rows = conn.execute(
        "SELECT d.ds::DATE, (SELECT h.version FROM champion_history h WHERE h.ds <= d.ds "
        "ORDER BY h.ds DESC LIMIT 1) FROM range(?::DATE, ?::DATE, INTERVAL 1 DAY) d(ds)",
        [start, end]).fetchall()
    return {day: version for day, version in rows if version is not None}


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
    """Day D's flights scored by the champion serving D (decided for D by `champion_model`, or
    carried over from the last decision), each row carrying the model version that scored it.
    Before the first champion there is nothing to score with: the run says so and writes no
    rows."""
    start, end, days = run_days(context)
    with warehouse_db.connect() as conn:
        serving = serving_versions(conn, start, end)
        unserved = [d for d in days if d not in serving]
        if unserved:
            context.log.warning("no champion serves " + ", ".join(map(str, unserved))
                                + " yet: no predictions for those days")
        if not serving:
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
    return dg.MaterializeResult(metadata={
        "dagster/row_count": written,
        "served": True,
        "model_versions": ", ".join(sorted(set(serving.values()))),
        "unserved_days": ", ".join(map(str, unserved)) or "none",
        "mean_p_delayed": round(float(out["p_delayed"].mean()), 4) if len(out) else 0.0,
        "days": f"{start} .. {end - dt.timedelta(days=1)}",
    })
