"""Serve: each day's flights scored by the champion that serves that day."""

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd

from ct_assets.core import warehouse
from ct_assets.core.features import FEATURE_NAMES
from ct_assets.defs.common import WAREHOUSE_POOL, run_days
from ct_assets.defs.features.assets import flight_features
from ct_assets.defs.partitions import daily_partitions
from ct_assets.defs.train.assets import champion_model
from ct_assets.registry import ModelRegistryResource
from ct_assets.resources import WarehouseResource

PREDICTION_COLUMNS = {"ds": "DATE", "carrier": "VARCHAR", "flight": "BIGINT",
                      "origin": "VARCHAR", "p_delayed": "DOUBLE", "model_version": "VARCHAR"}


@dg.asset(
    group_name="serve",
    partitions_def=daily_partitions,
    pool=WAREHOUSE_POOL,
    deps=[champion_model, flight_features],
    kinds={"duckdb", "lightgbm"},
)
def daily_predictions(context: dg.AssetExecutionContext, warehouse_db: WarehouseResource,
                      model_registry: ModelRegistryResource) -> dg.MaterializeResult:
    """Day D's flights scored by D's champion (the version recorded by `champion_model` D),
    each row carrying the model version that scored it."""
    start, end, days = run_days(context)
    with warehouse_db.connect() as conn:
        serving = dict(conn.execute("SELECT ds, version FROM champion_history "
                                    "WHERE ds >= ? AND ds < ?", [start, end]).fetchall())
        missing = [d for d in days if d not in serving]
        if missing:
            raise dg.Failure("no champion recorded for " + ", ".join(map(str, missing))
                             + ": materialize champion_model first")
        frame = conn.execute(
            "SELECT ds, carrier, flight, origin, "
            + ", ".join(c for c in FEATURE_NAMES if c not in ("carrier", "origin"))
            + " FROM flight_features WHERE ds >= ? AND ds < ?", [start, end]).df()
        frame["ds"] = pd.to_datetime(frame["ds"]).dt.date
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
        "model_versions": ", ".join(sorted(set(serving.values()))),
        "mean_p_delayed": round(float(out["p_delayed"].mean()), 4) if len(out) else 0.0,
        "days": f"{start} .. {end - dt.timedelta(days=1)}",
    })
