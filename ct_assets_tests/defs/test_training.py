"""Forty real days through Dagster up to a champion that loads from the registry, a gate that
rejects sabotage, and a lineage chain with no missing link."""

import datetime as dt
import json
import os
import signal
import subprocess
import sys

import dagster as dg
import mlflow
import numpy as np
import pandas as pd
import pytest

from ct_assets.cli import main as ct
from ct_assets.core import training
from ct_assets.definitions import ASSETS, build_resources
from ct_assets.registry import ModelRegistryResource
from ct_assets_tests.defs.helpers import materialize, processed_days, query
from ct_assets_tests.test_project import ROOT

D1, D2 = dt.date(2013, 2, 1), dt.date(2013, 2, 8)
MODEL_CHAIN = ["candidate_model", "model_evaluation", "champion_model", "daily_predictions"]


@pytest.fixture(scope="module")
def forty_days(tmp_path_factory):
    with processed_days(tmp_path_factory, "forty", 40) as (settings, instance, _):
        for day in (D1, D2):
            materialize(settings, instance, MODEL_CHAIN, day=day)
        yield settings, instance, build_resources(settings)["model_registry"]


def test_first_candidate_becomes_champion_and_loads_from_the_registry(forty_days):
    settings, _, registry = forty_days
    first = query(settings, "SELECT candidate_version, promote, reason FROM gate_decisions "
                            "WHERE ds = ?", [D1])[0]
    assert first[1] and first[2].startswith("promoted: first model")
    champion = registry.alias_version("champion")
    mlflow.set_tracking_uri(registry.tracking_uri)
    model = mlflow.pyfunc.load_model("models:/flight_delay@champion")
    features = pd.DataFrame(query(settings, "SELECT * FROM flight_features WHERE ds = ?", [D2]),
                            columns=[c for c, in query(settings, "SELECT column_name FROM "
                                     "information_schema.columns WHERE table_name = "
                                     "'flight_features' ORDER BY ordinal_position")])
    scores = np.asarray(model.predict(features))
    assert len(scores) == len(features) and ((scores > 0) & (scores < 1)).all()
    served = query(settings, "SELECT DISTINCT model_version FROM daily_predictions WHERE ds = ?",
                   [D2])
    assert served == [(champion,)]


def test_the_gate_decision_records_every_number(forty_days):
    settings, _, registry = forty_days
    row = query(settings, "SELECT candidate_version, champion_version, promote, decision_json "
                          "FROM gate_decisions WHERE ds = ?", [D2])[0]
    numbers = json.loads(row[3])
    assert row[1] == query(settings, "SELECT version FROM champion_history WHERE ds = ?",
                           [D1])[0][0]
    assert numbers["delta_low"] <= numbers["delta_auc"] <= numbers["delta_high"]
    assert numbers["config"]["n_boot"] == 400 and numbers["n"] > 2000
    history = query(settings, "SELECT version, changed FROM champion_history WHERE ds = ?", [D2])
    assert history[0][0] == (row[0] if row[2] else row[1])
    assert registry.alias_version("champion") == history[0][0]


def test_the_evaluation_report_is_readable_in_the_ui(forty_days):
    _, instance, _ = forty_days
    record = instance.fetch_materializations(dg.AssetRecordsFilter(
        asset_key=dg.AssetKey("model_evaluation"), asset_partitions=[D2.isoformat()]), limit=1)
    meta = {k: v.value for k, v in record.records[0].asset_materialization.metadata.items()}
    summary = meta["summary"]
    assert summary.startswith(("**PROMOTE**", "**KEEP CHAMPION**"))
    assert "| auc |" in summary and "| brier |" in summary and "carrier=" in summary
    assert "candidate_log_loss" in summary and "champion_auc" in summary
    assert meta["roc"].startswith("![plot](data:image/png;base64,")
    assert meta["mlflow_run"].startswith("http://127.0.0.1:5000/#/experiments/")


def test_rematerializing_a_candidate_reuses_its_version(forty_days):
    settings, instance, registry = forty_days
    before = registry.client().search_model_versions("name = 'flight_delay'")
    materialize(settings, instance, ["candidate_model"], day=D1)
    after = registry.client().search_model_versions("name = 'flight_delay'")
    assert len(after) == len(before)


def test_a_candidate_trained_on_shuffled_labels_never_becomes_champion(forty_days, monkeypatch):
    settings, instance, registry = forty_days
    champion = registry.alias_version("champion")
    honest_fit = training.fit

    def sabotaged_fit(frame, params=training.TrainParams()):
        shuffled = frame.assign(is_delayed=np.random.default_rng(1).permutation(
            frame["is_delayed"].to_numpy()))
        return honest_fit(shuffled, params)

    monkeypatch.setattr(training, "fit", sabotaged_fit)
    day = dt.date(2013, 2, 9)
    materialize(settings, instance, MODEL_CHAIN[:3], day=day)
    decision = query(settings, "SELECT promote, reason FROM gate_decisions WHERE ds = ?", [day])
    assert decision[0][0] is False and decision[0][1].startswith("rejected")
    assert registry.alias_version("champion") == champion


def test_training_refuses_a_window_with_missing_days(forty_days):
    settings, instance, _ = forty_days
    result = materialize(settings, instance, ["candidate_model"], day=dt.date(2013, 2, 15),
                         raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.user_failure_data.description
    assert "refusing to train" in message and "2013-02-10" in message


@pytest.mark.parametrize("window,holdout,rule", [
    (5, 3, "leaves 2 training day(s)"), (28, 0, "at least 1 held-out day")])
def test_a_training_config_too_short_to_calibrate_fails_clearly(forty_days, window, holdout,
                                                                 rule):
    settings, instance, registry = forty_days
    versions = len(registry.client().search_model_versions("name = 'flight_delay'"))
    result = dg.materialize(
        ASSETS, selection=["candidate_model"], partition_key="2013-02-08", instance=instance,
        resources=build_resources(settings), raise_on_error=False,
        run_config={"ops": {"candidate_model": {"config": {"window_days": window,
                                                            "holdout_days": holdout}}}})
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.user_failure_data.description
    assert message.startswith("candidate_model 2013-02-08: config") and rule in message
    assert len(registry.client().search_model_versions("name = 'flight_delay'")) == versions


def train_with_store(settings, instance, store: ModelRegistryResource, day: str) -> str:
    """Train `day` against another MLflow store; the step's failure message (it must fail)."""
    resources = {**build_resources(settings), "model_registry": store}
    result = dg.materialize(ASSETS, selection=["candidate_model"], partition_key=day,
                            instance=instance, resources=resources, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    return failure.step_failure_data.error.message


def test_an_unreachable_metadata_store_fails_clearly_and_keeps_the_champion(forty_days,
                                                                            tmp_path):
    settings, instance, registry = forty_days
    champion = registry.alias_version("champion")
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the store's folder should be")
    broken = ModelRegistryResource(tracking_uri=f"sqlite:///{blocker}/mlflow.db",
                                   artifact_root=str(blocker / "mlartifacts"))
    message = train_with_store(settings, instance, broken, "2013-02-07")
    assert "unavailable" in message and "champion is unchanged" in message
    assert registry.alias_version("champion") == champion
    # The store is back: the next run of the same partition succeeds.
    assert materialize(settings, instance, ["candidate_model"], day=dt.date(2013, 2, 7)).success


def test_ct_lineage_resolves_every_link_of_the_champion(forty_days, capsys):
    settings, _, registry = forty_days
    capsys.readouterr()
    assert ct(["lineage", "champion"]) == 0
    out = capsys.readouterr().out
    assert "lineage complete" in out and "✗" not in out
    assert f"flight_delay v{registry.alias_version('champion')}" in out
    assert "flights 2013-01-" in out and "(unchanged)" in out


def test_ct_experiments_tables_every_run_and_plots(forty_days, capsys):
    settings, _, _ = forty_days
    assert ct(["experiments"]) == 0
    out = capsys.readouterr().out
    assert "2013-02-01" in out and "2013-02-08" in out and "promote" in out
    assert (settings.data_dir / "reports" / "experiments.png").stat().st_size > 1000


def test_ct_promote_force_and_rollback(forty_days):
    settings, _, registry = forty_days
    champion = registry.alias_version("champion")
    versions = sorted(int(v.version) for v in
                      registry.client().search_model_versions("name = 'flight_delay'"))
    other = str(next(v for v in versions if str(v) != champion))
    assert ct(["promote", "--force", other]) == 0
    assert registry.alias_version("champion") == other
    tags = registry.client().get_model_version("flight_delay", other).tags
    assert tags["promotion_forced"] == "true"
    assert ct(["rollback"]) == 0
    assert registry.alias_version("champion") == champion
    assert registry.alias_version("previous") == other


def kill_midway(settings, partition: str, selection: str, point: str) -> int:
    env = {**os.environ, "CT_DATA_DIR": str(settings.data_dir)}
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run([sys.executable, "-m", "ct_assets_tests.defs.kill_midway", partition,
                           selection, point], cwd=ROOT, env=env, capture_output=True,
                          timeout=300)
    return done.returncode


@pytest.mark.parametrize("table,asset,day", [
    ("flight_features", "flight_features", D2),
    ("daily_predictions", "daily_predictions", D2),
])
def test_sigkill_mid_write_leaves_the_old_partition_and_the_rerun_succeeds(forty_days, table,
                                                                          asset, day):
    settings, instance, _ = forty_days
    rows = f"SELECT count(*), count(DISTINCT carrier || flight || origin) FROM {table} WHERE ds = ?"
    before = query(settings, rows, [day])
    assert before[0][0] > 0
    assert kill_midway(settings, day.isoformat(), asset, f"write:{table}") == -signal.SIGKILL
    assert query(settings, rows, [day]) == before       # the old partition, exactly once
    materialize(settings, instance, [asset], day=day)
    assert query(settings, rows, [day]) == before


def test_sigkill_mid_training_leaves_the_champion_until_a_full_gate_decision(forty_days):
    settings, instance, registry = forty_days
    champion = registry.alias_version("champion")
    versions = len(registry.client().search_model_versions("name = 'flight_delay'"))
    day = dt.date(2013, 2, 6)   # a partition no other test trains
    assert kill_midway(settings, day.isoformat(), ",".join(MODEL_CHAIN[:3]), "fit") \
        == -signal.SIGKILL
    assert registry.alias_version("champion") == champion
    assert len(registry.client().search_model_versions("name = 'flight_delay'")) == versions
    assert query(settings, "SELECT count(*) FROM gate_decisions WHERE ds = ?", [day]) == [(0,)]
    materialize(settings, instance, MODEL_CHAIN[:3], day=day)
    decided = query(settings, "SELECT promote, candidate_version FROM gate_decisions "
                              "WHERE ds = ?", [day])[0]
    assert registry.alias_version("champion") == (decided[1] if decided[0] else champion)


def test_a_read_only_metadata_store_fails_clearly_and_keeps_the_champion(forty_days):
    settings, instance, registry = forty_days
    champion = registry.alias_version("champion")
    versions = len(registry.client().search_model_versions("name = 'flight_delay'"))
    db = settings.data_dir / "mlflow.db"
    read_only = ModelRegistryResource(tracking_uri=f"sqlite:///file:{db}?mode=ro&uri=true",
                                      artifact_root=str(settings.data_dir / "mlartifacts"))
    message = train_with_store(settings, instance, read_only, "2013-02-05")
    assert "readonly database" in message and "champion is unchanged" in message
    assert registry.alias_version("champion") == champion
    assert len(registry.client().search_model_versions("name = 'flight_delay'")) == versions


def test_model_performance_scores_the_served_day_against_its_promise(forty_days):
    settings, instance, registry = forty_days
    materialize(settings, instance, ["model_performance"], day=D2)
    row = query(settings, "SELECT model_version, n, auc, holdout_auc, auc_drop "
                          "FROM model_performance WHERE ds = ?", [D2])[0]
    served = query(settings, "SELECT version FROM champion_history WHERE ds = ?", [D2])[0][0]
    labelled = query(settings, "SELECT count(*) FROM flight_labels WHERE ds = ? "
                               "AND is_delayed IS NOT NULL", [D2])[0][0]
    assert row[0] == served and row[1] == labelled
    assert 0.5 < row[2] < 1 and row[3] == pytest.approx(registry.promised_auc(served))
    # the promise is the mean per-day held-out AUC, not the AUC pooled over the held-out days
    run = registry.client().get_run(registry.client().get_model_version(
        "flight_delay", served).tags["run_id"])
    assert row[3] == pytest.approx(run.data.metrics["holdout_daily_auc"])
    assert run.data.metrics["holdout_daily_auc"] != run.data.metrics["holdout_auc"]
    assert row[4] == pytest.approx(row[3] - row[2])
