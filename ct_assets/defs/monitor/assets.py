"""Monitor: how far each day's features moved from what the serving model trained on, and how
that model actually did once the day's outcomes are known. The two signals of the retrain
policy (`core/policy.py`), read by the retrain sensor from these assets' metadata."""

import datetime as dt
import json
import math
from pathlib import Path

import dagster as dg
import pandas as pd

from ct_assets.core import evaluation, loop, warehouse
from ct_assets.core import feature_drift as drift_scoring
from ct_assets.defs import state
from ct_assets.defs.common import SINGLE_RUN, WAREHOUSE_POOL, fresh_when_upstream_is, run_days
from ct_assets.defs.features.assets import flight_features, flight_labels
from ct_assets.defs.monitor import reference
from ct_assets.defs.partitions import daily_partitions
from ct_assets.defs.retrain import RETRAIN
from ct_assets.defs.serve.assets import daily_predictions
from ct_assets.defs.train import data
from ct_assets.defs.train.champion import champion_model
from ct_assets.defs.train.common import registry_failures
from ct_assets.registry import ModelRegistryResource
from ct_assets.resources import ProfileStoreResource, WarehouseResource

DRIFT_COLUMNS = {
    "ds": "DATE", "model_version": "VARCHAR", "score": "DOUBLE", "top_feature": "VARCHAR",
    "top_signal": "VARCHAR", "alarms": "BIGINT", "features_json": "VARCHAR",
}


@dg.asset(
    group_name="monitor",
    partitions_def=daily_partitions,
    backfill_policy=SINGLE_RUN,
    pool=WAREHOUSE_POOL,
    deps=[flight_features, champion_model],
    kinds={"whylogs", "duckdb"},
    automation_condition=fresh_when_upstream_is(ignore_missing=[champion_model]),
)
def feature_drift(context: dg.AssetExecutionContext, warehouse_db: WarehouseResource,
                         profile_store: ProfileStoreResource,
                         model_registry: ModelRegistryResource) -> dg.MaterializeResult:
    """Day D's features against the training window of the model serving D: per feature, its
    severity (1 = alarm) and the signal that set it (PSI, mean shift, out of range, null rate,
    unseen categories), each calibrated on that window's own day-to-day variation; the day's
    `drift_score` is the worst monitored feature. In the metadata (for the retrain sensor and
    the UI) and in the `feature_drift` table (for history)."""
    start, end, days = run_days(context)
    serving = state.decision_log(context.instance).versions_serving(days)
    with warehouse_db.connect() as conn:
        views = reference.daily_feature_views(conn, profile_store, list(serving), context.log)
    rows, references = [], {}
    for day in sorted(views):
        version = serving[day]
        if version not in references:
            with registry_failures():
                references[version] = reference.for_version(
                    model_registry, version, Path(profile_store.root))
            if references[version] is None:
                context.log.warning(f"version {version} logged no drift reference")
        ref = references[version]
        if ref is None:
            continue
        score, scores = loop.drift_score(ref, views[day])
        rows.append({
            "ds": day, "model_version": version,
            "score": score,
            "top_feature": scores.iloc[0]["column"], "top_signal": scores.iloc[0]["signal"],
            "alarms": int((scores["severity"] >= 1).sum()),
            "features_json": scores.to_json(orient="records"), "_scores": scores})
    for row in rows:
        context.add_asset_metadata({
            "drift_score": round(float(row["score"]), 4),
            "model_version": str(row["model_version"]),
            "top_feature": str(row["top_feature"]),
            "features": dg.MetadataValue.md(drift_scoring.markdown(row["_scores"]))},
            partition_key=row["ds"].isoformat())
    unscored = [d for d in days if d not in {r["ds"] for r in rows}]
    for day in unscored:
        context.add_asset_metadata({"drift_score": None, "model_version": ""},
                                   partition_key=day.isoformat())
    if unscored:
        context.log.warning("no drift score (no champion or no features yet) for "
                            + ", ".join(map(str, unscored)))
    if not rows:
        return dg.MaterializeResult(metadata={"scored_days": 0,
                                              "unscored_days": ", ".join(map(str, unscored))})
    frame = pd.DataFrame(rows)
    with warehouse_db.connect() as conn, warehouse.transaction(conn):
        warehouse.replace_partitions(conn, "feature_drift", frame[list(DRIFT_COLUMNS)], start,
                                     end, columns=DRIFT_COLUMNS)
    last = rows[-1]
    context.log.info(f"drift score of {last['ds']}: {last['score']:.2f} "
                     f"({last['top_feature']}, {last['top_signal']})")
    return dg.MaterializeResult(metadata={
        "per_day": dg.MetadataValue.md(frame[["ds", "model_version", "score", "top_feature",
                                              "top_signal", "alarms"]]
                                       .to_markdown(index=False, floatfmt=".3f")),
        "unscored_days": ", ".join(map(str, unscored)) or "none",
        "calibration": dg.MetadataValue.json(json.loads(json.dumps(
            drift_scoring.config_dict()))),
    })

# The cheap refit's AUC per day and the digest of its inputs (`loop.refit_inputs`): the refit
# does not depend on the champion, so re-scoring days for a new champion (a catch-up re-scores
# every later day at each promotion) fits it again only where its inputs changed.
REFIT_COLUMNS = {"ds": "DATE", "inputs_sha256": "VARCHAR", "auc": "DOUBLE", "cpu_s": "DOUBLE"}


def _refit_scores(conn, labelled: pd.DataFrame, days) -> dict[dt.date, tuple]:
    """{day: (RefitScore, reused)}, refitting only the days whose inputs changed."""
    stored = {}
    if warehouse.table_exists(conn, "refit_scores"):
        stored = {row[0]: row[1:] for row in conn.execute(
            "SELECT ds, inputs_sha256, auc, cpu_s FROM refit_scores WHERE list_contains(?, ds)",
            [list(days)]).fetchall()}
    scores, fresh = {}, []
    for day in days:
        train = labelled[labelled["ds"].isin(loop.refit_days(RETRAIN, day))]
        judged = labelled[labelled["ds"] == day]
        key = loop.refit_inputs(train, judged)
        if day in stored and stored[day][0] == key:
            auc = stored[day][1]
            scores[day] = (loop.RefitScore(float("nan") if auc is None else auc,
                                           stored[day][2]), True)
            continue
        score = loop.refit_score(train, judged)
        scores[day] = (score, False)
        fresh.append({"ds": day, "inputs_sha256": key,
                      "auc": None if math.isnan(score.auc) else score.auc, "cpu_s": score.cpu_s})
    if fresh:
        frame = pd.DataFrame(fresh, columns=list(REFIT_COLUMNS))
        with warehouse.transaction(conn):
            for row in frame.itertuples(index=False):    # a day at a time: a file per day
                warehouse.replace_partitions(                  # on DuckLake, as elsewhere
                    conn, "refit_scores", frame[frame["ds"] == row.ds], row.ds,
                    row.ds + dt.timedelta(days=1), columns=REFIT_COLUMNS)
    return scores


PERFORMANCE_COLUMNS = {
    "ds": "DATE", "model_version": "VARCHAR", "n": "BIGINT", "auc": "DOUBLE",
    "log_loss": "DOUBLE", "brier": "DOUBLE", "holdout_auc": "DOUBLE", "auc_drop": "DOUBLE",
}


@dg.asset(
    group_name="monitor",
    partitions_def=daily_partitions,
    backfill_policy=SINGLE_RUN,
    pool=WAREHOUSE_POOL,
    deps=[daily_predictions, flight_labels],
    kinds={"duckdb"},
    automation_condition=fresh_when_upstream_is(),
)
def model_performance(context: dg.AssetExecutionContext, warehouse_db: WarehouseResource,
                      model_registry: ModelRegistryResource) -> dg.MaterializeResult:
    """Day D's champion scored on D's labels once D is complete: AUC, log loss and Brier score,
    and the drop against what the champion promised when it was trained: the mean of its
    per-day AUCs on its held-out days (`holdout_auc` column; a single day is compared with
    single days, not with the AUC pooled over the held-out days, which is higher by 0.025 on
    2013). A positive `auc_drop` is the performance signal of the retrain policy; the
    `refit_gain`, the AUC on D of a cheap model refitted on the 7 labelled days before D
    minus the champion's, is its label-driven signal that a fresh model would do better."""
    start, end, days = run_days(context)
    with warehouse_db.connect() as conn:
        if not warehouse.table_exists(conn, "daily_predictions"):
            context.log.warning("no predictions yet (no champion has served a day)")
            return dg.MaterializeResult(metadata={"labelled_flights": 0, "served": False})
        scored = conn.execute(
            "SELECT p.ds, p.model_version, p.p_delayed, l.is_delayed FROM daily_predictions p "
            "JOIN flight_labels l USING (ds, carrier, flight, origin) "
            "WHERE p.ds >= ? AND p.ds < ? AND l.is_delayed IS NOT NULL", [start, end]).df()
    if scored.empty:
        context.log.warning(f"no labelled predictions for {start} .. "
                            f"{end - dt.timedelta(days=1)} (no champion served them)")
        return dg.MaterializeResult(metadata={"labelled_flights": 0, "served": False})
    scored["ds"] = pd.to_datetime(scored["ds"]).dt.date
    rows = []
    with registry_failures():
        promised = {v: state.promise(model_registry, v) for v in scored["model_version"].unique()}
    with warehouse_db.connect() as conn:
        labelled = data.labelled_features(
            conn, start - dt.timedelta(days=RETRAIN.refit_days), end)
        # the label-driven signal: a cheap refit on the labelled days before D, on D
        refits = _refit_scores(conn, labelled, sorted(scored["ds"].unique()))
    reused = {day for day, (_, again) in refits.items() if again}
    if reused:
        context.log.info(f"cheap refit reused for {len(reused)} of {len(refits)} day(s): "
                         "their inputs are unchanged since it was fitted")
    refits = {day: score for day, (score, _) in refits.items()}
    for (day, version), part in scored.groupby(["ds", "model_version"]):
        metrics = evaluation.metrics(part["is_delayed"].astype(bool).to_numpy(),
                                     part["p_delayed"].to_numpy())
        holdout = promised[version]
        rows.append({"ds": day, "model_version": version, "n": int(metrics["n"]),
                     "auc": metrics["auc"], "log_loss": metrics["log_loss"],
                     "brier": metrics["brier"], "holdout_auc": holdout,
                     "auc_drop": None if holdout is None else holdout - metrics["auc"],
                     "refit_gain": refits[day].auc - metrics["auc"]})
    frame = pd.DataFrame(rows)
    with warehouse_db.connect() as conn, warehouse.transaction(conn):
        warehouse.replace_partitions(conn, "model_performance",
                                     frame[list(PERFORMANCE_COLUMNS)], start, end,
                                     columns=PERFORMANCE_COLUMNS)
    missing = sorted(set(days) - set(frame["ds"]))
    if missing:
        context.log.warning("no labelled predictions for " + ", ".join(map(str, missing)))
    for row in rows:
        context.add_asset_metadata({
            "auc": round(float(row["auc"]), 4),
            "auc_drop": None if row["auc_drop"] is None else round(float(row["auc_drop"]), 5),
            "model_version": str(row["model_version"]), "labelled_flights": int(row["n"]),
            "refit_gain": round(float(row["refit_gain"]), 6)
            if not math.isnan(row["refit_gain"]) else None,
            "refit_cpu_s": round(refits[row["ds"]].cpu_s, 3),
            "refit_reused": row["ds"] in reused},
            partition_key=row["ds"].isoformat())
    for day in missing:
        context.add_asset_metadata({"auc": None, "auc_drop": None, "model_version": "",
                                    "labelled_flights": 0}, partition_key=day.isoformat())
    return dg.MaterializeResult(metadata={
        "labelled_flights_in_run": int(frame["n"].sum()),
        "per_day": dg.MetadataValue.md(frame.to_markdown(index=False, floatfmt=".4f")),
    })


# What scores a day with the champion serving it: serving and its monitoring, in this order.
# The landing run ends with them; a retrain of a featurised day and a re-scoring run are them.
SCORING = [daily_predictions, feature_drift, model_performance]
