"""The labelled feature frame of a range of days: the production features (DuckDB, over the
whole year of validated flights and weather so the first days have their history) joined with
the labels."""

import datetime as dt

import pandas as pd

from ct_assets.bench.features import duckdb_features, validated_year_frames, warehouse_in_memory
from ct_assets.core.features import label_sql


def labelled_frame(start: dt.date, end: dt.date, frames=None) -> pd.DataFrame:
    """The features of the flights of [start, end) with their label `is_delayed`, from the
    validated year (or from `frames`: validated flights, weather and planes)."""
    flights, weather, planes = frames or validated_year_frames()
    conn = warehouse_in_memory(flights, weather, planes)
    feats = duckdb_features(conn, start, end).to_pandas()
    conn.execute("CREATE TEMP TABLE t AS SELECT * FROM validated_flights WHERE ds >= ? "
                 "AND ds < ?", [start, end])
    labels = conn.sql(label_sql("t")).df()
    for frame in (feats, labels):
        frame["ds"] = pd.to_datetime(frame["ds"]).dt.date
    return feats.merge(labels[["ds", "carrier", "flight", "origin", "is_delayed"]])
