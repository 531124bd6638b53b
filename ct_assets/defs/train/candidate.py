"""`candidate_model`: partition D is a model trained as of the start of D, on the labelled
days of D's window (`RetrainSpec`, published before D's first cutoff), to serve D."""

import dataclasses
import datetime as dt
import json
import multiprocessing
import os
import tempfile
from pathlib import Path

import dagster as dg
from dagster._core.definitions.data_version import DATA_VERSION_TAG

from ct_assets.core import features, loop, training
from ct_assets.core.days import day_range
from ct_assets.defs.common import WAREHOUSE_POOL, run_day
from ct_assets.defs.features.assets import FEATURE_PROFILE, flight_features, flight_labels
from ct_assets.defs.monitor import reference
from ct_assets.defs.partitions import daily_partitions
from ct_assets.defs.retrain import RETRAIN
from ct_assets.defs.train import data
from ct_assets.defs.train.common import log_for, registry_failures
from ct_assets.provenance import code_version
from ct_assets.registry import ModelRegistryResource
from ct_assets.resources import ProfileStoreResource, WarehouseResource
from ct_assets.sources.nycflights13 import AVAILABILITY

_TP = training.TrainParams   # the defaults live in core/, once


class TrainConfig(dg.Config):
    """How `candidate_model` fits (the window is the project's `RetrainSpec`, `defs/retrain.py`).
    Same inputs + same config + same code = same model."""

    num_leaves: int = _TP.num_leaves
    learning_rate: float = _TP.learning_rate
    n_estimators: int = _TP.n_estimators
    min_child_samples: int = _TP.min_child_samples
    colsample_bytree: float = _TP.colsample_bytree
    reg_lambda: float = _TP.reg_lambda
    seed: int = _TP.seed

    def params(self) -> training.TrainParams:
        return _TP(**{f.name: getattr(self, f.name) for f in dataclasses.fields(_TP)})


def window_mapping() -> dg.TimeWindowPartitionMapping:
    """Partition D of the train stage reads the labelled days of D's window (`RETRAIN`)."""
    start, end = RETRAIN.partition_offsets()
    return dg.TimeWindowPartitionMapping(start_offset=start, end_offset=end,
                                         allow_nonexistent_upstream_partitions=True)


def _write_reference(profile_store: ProfileStoreResource, days: list[dt.date],
                     folder: Path) -> None:
    """In a forked process: the drift reference of `days` from their stored feature profiles,
    written to `folder`. Exits 3, writing nothing, if a profile is missing or unreadable (the
    step then rebuilds it itself, with the warehouse and its warnings)."""
    try:
        views = {day: profile_store.read(FEATURE_PROFILE, day) for day in days}
        if any(view is None for view in views.values()):
            os._exit(3)
        reference.write(loop.drift_reference(views), folder)
    except Exception:  # noqa: BLE001 - the parent builds it itself and reports what failed
        os._exit(3)
    os._exit(0)


def _start_reference(profile_store: ProfileStoreResource, days: list[dt.date], folder: Path):
    """The drift reference (reading and merging the training days' feature profiles: Python,
    most of a second) is built in a forked process while this one fits (a thread would share
    the interpreter with the fit's own Python). Forked before LightGBM starts its threads (the
    run's other threads, `compute_logs`' followers, hold no lock the child takes). None where
    this process may not fork (the step then builds it after the fit)."""
    process = multiprocessing.get_context("fork").Process(
        target=_write_reference, args=(profile_store, days, folder), daemon=True)
    try:
        process.start()
    except (AssertionError, OSError):         # a daemonic worker, or no resources to fork
        return None
    return process


def _input_data_versions(context, start: dt.date, end: dt.date) -> dict[str, str]:
    """The data version of each day of the window the candidate read, per input asset: the
    versions' tags (one query per asset, not the materialization events); a partition whose
    newest materialization carries no version tag (reported from outside a run) by its run."""
    keys = [d.isoformat() for d in day_range(start, end)]
    versions = {}
    for asset in (flight_features, flight_labels):
        tags = context.instance.event_log_storage.get_latest_tags_by_partition(
            asset.key, dg.DagsterEventType.ASSET_MATERIALIZATION, [DATA_VERSION_TAG],
            asset_partitions=keys)
        found = {key: value[DATA_VERSION_TAG] for key, value in tags.items()
                 if value.get(DATA_VERSION_TAG)}
        missing = [key for key in keys if key not in found]
        if missing:
            records = context.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=asset.key, asset_partitions=missing),
                limit=len(missing) * 4)
            for record in records.records:
                found.setdefault(record.asset_materialization.partition, record.run_id)
        for partition, version in found.items():
            versions[f"{asset.key.to_user_string()}/{partition}"] = version
    return dict(sorted(versions.items()))


@dg.asset(
    group_name="train",
    partitions_def=daily_partitions,
    pool=WAREHOUSE_POOL,
    deps=[dg.AssetDep(asset, partition_mapping=window_mapping())
          for asset in (flight_features, flight_labels)],
    kinds={"lightgbm", "mlflow"},
)
def candidate_model(context: dg.AssetExecutionContext, config: TrainConfig,
                    warehouse_db: WarehouseResource, profile_store: ProfileStoreResource,
                    model_registry: ModelRegistryResource) -> dg.MaterializeResult:
    """A LightGBM model trained as of the start of day D on the labelled features of D's
    window (outcomes published before D's first cutoff), minus a held-out block of its newest
    days kept for the gate. An MLflow run and a registered version of `flight_delay`; the same
    inputs, config and code reuse the version instead of registering a duplicate. A day older
    than the newest champion decision is refused (decisions only move forward)."""
    day = run_day(context)
    log_for(context, "candidate_model", day)
    start, end = RETRAIN.window(day)
    train_days, holdout_days = RETRAIN.split(day)
    with warehouse_db.connect() as conn:
        try:
            data.check_window(conn, start, end)
        except data.WindowNotReady as exc:
            raise dg.Failure(f"candidate_model {day}: refusing to train on {exc}") from exc
        frame = data.labelled_features(conn, start, end)
        history_start = features.history_bounds(start, end, AVAILABILITY)["outcomes"][0]
        manifest = data.input_manifest(conn, history_start, end)
    with registry_failures():
        for note in model_registry.complete_or_retire():
            context.log.warning(f"registry: {note}")
    train = frame[frame["ds"].isin(train_days)]
    holdout = frame[frame["ds"].isin(holdout_days) & frame["is_delayed"].notna()]
    params = {**config.params().__dict__, "window_days": RETRAIN.window_days,
              "holdout_days": RETRAIN.holdout_days, "label_lag_days": RETRAIN.label_lag_days}
    code = code_version()
    fingerprint = data.fingerprint(frame, params, code)
    with registry_failures():
        existing = model_registry.find_version(fingerprint=fingerprint)
    fit = None
    if existing is not None:
        context.log.info(f"same inputs, config and code as version {existing.version}: reused")
        run_id, version = existing.tags["run_id"], str(existing.version)
    else:
        tags = {
            "partition": day.isoformat(), "dagster_run_id": context.run.run_id,
            "code_version": code, "fingerprint": fingerprint,
            "window_start": str(train_days[0]), "window_end": str(holdout_days[-1]),
            "holdout_start": str(holdout_days[0]), "holdout_end": str(holdout_days[-1]),
        }
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / reference.FOLDER
            building = _start_reference(profile_store, train_days, folder)
            fit = loop.fit_candidate(train, holdout, config.params())
            if building is not None:
                building.join()
            if building is None or building.exitcode != 0:
                with warehouse_db.connect() as conn:
                    reference.write(loop.drift_reference(reference.daily_feature_views(
                        conn, profile_store, train_days, context.log)), folder)
            inputs = Path(tmp) / "inputs.json"
            inputs.write_text(json.dumps({
                "train_days": [str(d) for d in train_days],
                "holdout_days": [str(d) for d in holdout_days],
                "data_versions": _input_data_versions(context, start, end),
                "landed_files": manifest,
            }, indent=1))
            with registry_failures():
                run_id, version = model_registry.log_candidate(
                    fit.model, run_name=f"candidate {day}", params=params,
                    metrics={f"holdout_{k}": v for k, v in fit.metrics.items()}
                    | {"train_rows": fit.model.trained_on["rows"], "fit_cpu_s": fit.fit_cpu_s},
                    tags=tags, example=holdout.head(50),
                    artifacts={reference.FOLDER: folder, "lineage": inputs})
    metadata = {
        "model_version": version,
        "mlflow_run_id": run_id,
        "mlflow_run": dg.MetadataValue.url(model_registry.run_url(run_id)),
        "train_days": f"{train_days[0]} .. {train_days[-1]}",
        "holdout_days": f"{holdout_days[0]} .. {holdout_days[-1]}",
        "train_rows": int(train["is_delayed"].notna().sum()),
        "fingerprint": fingerprint[:16],
        "code_version": code,
    }
    if fit is not None:
        metadata["holdout_auc"] = round(fit.holdout_auc, 4)
        metadata["holdout_daily_auc"] = round(fit.holdout_daily_auc, 4)
        metadata["fit_cpu_s"] = round(fit.fit_cpu_s, 2)
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(fingerprint[:16]))
