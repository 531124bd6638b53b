"""The measurements: one partition's train + evaluate through Dagster (in-process, a fresh
temporary data dir and instance) and through the same calls without it, with and without
MLflow; and a month of daily retrains in a process of its own."""

import datetime as dt
import multiprocessing as mp
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ct_assets.bench.train.data import labelled_frame
from ct_assets.core import evaluation, gate, training
from ct_assets.core.days import day_range
from ct_assets.core.loop import RetrainSpec
from ct_assets.sources.nycflights13 import AVAILABILITY


@dataclass
class Timing:
    name: str
    seconds: float
    peak_rss_mb: float
    detail: str = ""


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train_and_evaluate(frame, day, window, holdout, params, champion=None):
    """One partition's work, as `candidate_model` + `model_evaluation` do it, minus Dagster."""
    spec = RetrainSpec.for_source(AVAILABILITY, window_days=window, holdout_days=holdout)
    train_days, holdout_days = spec.split(day)
    train = frame[frame["ds"].isin(train_days)]
    held = frame[frame["ds"].isin(holdout_days) & frame["is_delayed"].notna()]
    model = training.fit(train, params)
    y = held["is_delayed"].astype(bool).to_numpy()
    p_new = model.predict_proba(held)
    p_old = champion.predict_proba(held) if champion is not None else None
    slices = {"carrier": held["carrier"].to_numpy(), "origin": held["origin"].to_numpy()}
    decision = gate.decide(y, p_new, p_old, slices)
    evaluation.metrics(y, p_new)
    return model, decision


def _month(first: dt.date, days: int, window: int, holdout: int, n_estimators: int, queue):
    spec = RetrainSpec.for_source(AVAILABILITY, window_days=window, holdout_days=holdout)
    frame = labelled_frame(spec.window(first)[0], first + dt.timedelta(days=days))
    params = training.TrainParams(n_estimators=n_estimators)
    champion, promotions, aucs = None, 0, []
    began, cpu = time.perf_counter(), time.process_time()
    for i in range(days):
        day = first + dt.timedelta(days=i)
        model, decision = train_and_evaluate(frame, day, window, holdout, params, champion)
        if decision.promote:
            champion, promotions = model, promotions + 1
        aucs.append(decision.candidate_auc)
    queue.put(Timing("month of daily retrains (core, in one process)",
                     time.perf_counter() - began, _rss_mb(),
                     f"{days} retrains, {promotions} promotions, CPU "
                     f"{time.process_time() - cpu:.1f} s, mean candidate AUC "
                     f"{np.mean(aucs):.4f}"))


def month_of_retrains(first: dt.date, days: int, window: int, holdout: int,
                      n_estimators: int) -> Timing:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_month, args=(first, days, window, holdout, n_estimators, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def one_partition(day: dt.date, window: int, holdout: int, n_estimators: int,
                  history_days: int = 29, progress=None) -> list[Timing]:
    """Train + evaluate one partition through Dagster (in-process, fresh temporary data dir and
    instance) and through the same calls without Dagster, with and without MLflow."""
    with tempfile.TemporaryDirectory(prefix="ct-bench-train-") as tmp:
        return _one_partition(Path(tmp), day, window, holdout, n_estimators, history_days,
                              progress)


def _one_partition(tmp: Path, day, window, holdout, n_estimators, history_days, progress):
    import os

    import dagster as dg

    from ct_assets.core import landing
    from ct_assets.settings import Settings
    from ct_assets.sources import nycflights13 as source

    os.environ["CT_DATA_DIR"] = str(tmp)
    os.environ["CT_WINDOW_DAYS"], os.environ["CT_HOLDOUT_DAYS"] = str(window), str(holdout)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    from ct_assets.definitions import ASSETS, build_resources

    settings = Settings.from_env()
    resources = build_resources(settings)
    # One extra day in front: a warm-up partition (day - 1) pays the one-off costs (MLflow's
    # store creation, imports) before the timed one.
    spec = RetrainSpec.for_source(AVAILABILITY, window_days=window, holdout_days=holdout)
    days = list(day_range(spec.window(day - dt.timedelta(days=1))[0],
                          day + dt.timedelta(days=1)))
    history = list(day_range(days[0] - dt.timedelta(days=history_days), days[0]))
    for d in history + days:
        for table in ("flights", "weather"):
            landing.write_new(landing.landed_path(settings.landing_dir, table, d),
                              source.day_frame(table, d))
    every = history + days
    rng = {"dagster/asset_partition_range_start": every[0].isoformat(),
           "dagster/asset_partition_range_end": every[-1].isoformat()}
    config = {"ops": {"candidate_model": {"config": {"n_estimators": n_estimators}}}}
    with dg.instance_for_test() as instance:
        def run(selection, run_config=None, **kwargs):
            # the runs' own log lines stay in the instance; the console shows the bench's table
            quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
            dg.materialize(ASSETS, selection=selection, instance=instance, resources=resources,
                           run_config={**(run_config or {}), **quiet}, **kwargs)

        run(["raw_flights", "raw_weather", "flight_profile"], tags=rng)
        run(["reference_tables"])
        run(["validated_flights", "validated_weather"], tags=rng)
        if progress:
            progress(len(every))
        run(["flight_features", "flight_labels"], tags=rng)
        run(["candidate_model", "model_evaluation"],
            partition_key=(day - dt.timedelta(days=1)).isoformat(), run_config=config)
        began = time.perf_counter()
        run(["candidate_model", "model_evaluation"], partition_key=day.isoformat(),
            run_config=config)
        through_dagster = time.perf_counter() - began

    frame = labelled_frame(days[0], day)
    params = training.TrainParams(n_estimators=n_estimators)
    began = time.perf_counter()
    model, _ = train_and_evaluate(frame, day, window, holdout, params)
    direct = time.perf_counter() - began
    registry = resources["model_registry"]
    began = time.perf_counter()
    model, _ = train_and_evaluate(frame, day, window, holdout, params)
    _, version = registry.log_candidate(
        model, run_name="bench", params={"bench": 1}, metrics={}, tags={"bench": "1"},
        example=frame.head(50), artifacts={})
    registry.load(version)
    with_mlflow = time.perf_counter() - began
    rss = _rss_mb()
    return [
        Timing("through Dagster (candidate_model + model_evaluation)", through_dagster, rss),
        Timing("same core calls + MLflow logging, no Dagster", with_mlflow, rss),
        Timing("same core calls only (fit, score, gate)", direct, rss),
    ]
