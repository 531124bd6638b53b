"""The one Definitions object of ct_assets, assembled from the stages under `defs/`."""

import copy

import dagster as dg

from ct_assets.defs.automation import automation_sensor
from ct_assets.defs.features.assets import flight_features, flight_labels
from ct_assets.defs.ingest.assets import raw_flights, raw_weather, reference_tables
from ct_assets.defs.ingest.sensors import landing_sensor
from ct_assets.defs.monitor.assets import feature_drift, model_performance
from ct_assets.defs.monitor.shadow import shadow_scores
from ct_assets.defs.serve.assets import daily_predictions
from ct_assets.defs.train.candidate import candidate_model
from ct_assets.defs.train.champion import champion_model
from ct_assets.defs.train.evaluation import model_evaluation
from ct_assets.defs.triggers.assets import trigger_policy
from ct_assets.defs.triggers.sensors import retrain_sensor, weekly_retrain
from ct_assets.defs.validate.assets import flight_profile, validated_flights, validated_weather
from ct_assets.registry import ModelRegistryResource, default_tracking_uri
from ct_assets.resources import LandingResource, ProfileStoreResource, WarehouseResource
from ct_assets.settings import Settings


def build_resources(settings: Settings) -> dict:
    tracking_uri = default_tracking_uri(settings.data_dir)
    # A tracking server (`mlflow server --serve-artifacts`) stores the artifacts itself.
    server = tracking_uri.startswith(("http://", "https://"))
    return {
        "warehouse_db": WarehouseResource(path=settings.warehouse),
        "profile_store": ProfileStoreResource(root=str(settings.profiles_dir)),
        "landing_folder": LandingResource(root=str(settings.landing_dir)),
        "model_registry": ModelRegistryResource(
            tracking_uri=tracking_uri,
            artifact_root="" if server else str(settings.data_dir / "mlartifacts"),
            **({"ui_url": tracking_uri.rstrip("/")} if server else {})),
    }


ASSETS = [raw_flights, raw_weather, reference_tables, flight_profile, validated_flights,
          validated_weather,
          flight_features, flight_labels, candidate_model, model_evaluation, champion_model,
          daily_predictions, feature_drift, model_performance, shadow_scores, trigger_policy]


# Runs of the loop are small (a day or a range of days): one process per run, no step
# subprocesses, so a run starts in about half the time (on the cluster, the run launcher in its
# dagster.yaml hands each run to a Celery worker). Bulk ingestion of a range of days uses
# `ingest_backfill_job`, whose steps run in parallel processes (the `warehouse` pool serialises
# the DuckDB writers among them); validation and features then follow by automation.
# Its step processes are forked from a forkserver that has imported Dagster and the project
# once, instead of each spawning an interpreter that imports them again (seconds per step).
STEP_PRELOAD = ["dagster", "pandas", "duckdb", "ct_assets.definitions"]
ingest_backfill_job = dg.define_asset_job(
    "ingest_backfill_job",
    selection=[raw_flights, raw_weather, flight_profile],
    executor_def=dg.multiprocess_executor.configured(
        {"start_method": {"forkserver": {"preload_modules": STEP_PRELOAD}}}),
    description="Ingest and profile a range of landed days in one multiprocess run.",
)


# Forced promotions and rollbacks (`ct promote --force`, `ct rollback`) are runs of this job:
# the same code path as a gate decision, recorded in the same log, visible in the UI.
champion_decision_job = dg.define_asset_job(
    "champion_decision",
    selection=[champion_model],
    description="Record a champion decision made by a person: a forced promotion or a "
                "rollback (config action=force|rollback), from the first day not yet scored.",
)


def tick_every(sensors: list, seconds: int) -> list:
    """The sensors with `seconds` as their minimum interval (`CT_SENSOR_INTERVAL_S`), or as
    they are when it is 0. Dagster 1.13 has no public setter: copies, so the modules' sensors
    keep theirs."""
    if not seconds:
        return sensors
    out = []
    for sensor in sensors:
        sensor = copy.copy(sensor)
        sensor._min_interval = seconds
        out.append(sensor)
    return out


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=ASSETS,
        jobs=[ingest_backfill_job, champion_decision_job],
        sensors=tick_every([landing_sensor, automation_sensor, retrain_sensor],
                           settings.sensor_interval_s),
        schedules=[weekly_retrain],
        resources=build_resources(settings),
        executor=dg.in_process_executor,
    )


defs = build_defs(Settings.from_env())
