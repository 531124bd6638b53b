"""Forty-five real days through Dagster up to a champion that loads from the registry, a gate
that rejects sabotage, a lineage chain with no missing link, and the decision log as the one
truth of who serves: forced promotions and rollbacks change what the next day is scored with,
decisions only move forward, and a crash between the log and the registry heals.

Decisions only move forward, so the tests of this module use the days in order: D1 and D2
(the fixture), the sabotage on Feb 9, crash-in-training on Feb 11, registry crashes on Feb 12
and 13, the manual decisions from the first day not yet scored after those."""

import base64
import datetime as dt
import json
import os
import signal
from xml.etree import ElementTree

import dagster as dg
import duckdb
import mlflow
import numpy as np
import pandas as pd
import pytest

from ct_assets import launcher
from ct_assets.cli import main as ct
from ct_assets.core import evaluation, training
from ct_assets.definitions import ASSETS, build_resources
from ct_assets.defs import state
from ct_assets.defs.train import data
from ct_assets.registry import ModelRegistryResource
from ct_assets_tests.defs import kill_midway as crash
from ct_assets_tests.defs.helpers import materialize, processed_days, query
from ct_assets_tests.test_project import ROOT

D1, D2 = dt.date(2013, 2, 1), dt.date(2013, 2, 8)
MODEL_CHAIN = ["candidate_model", "model_evaluation", "champion_model", "daily_predictions"]


@pytest.fixture(scope="module")
def forty_days(tmp_path_factory):
    with processed_days(tmp_path_factory, "forty", 45, on_disk=True) as (settings, instance, _):
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
    settings, instance, registry = forty_days
    row = query(settings, "SELECT candidate_version, champion_version, promote, decision_json "
                          "FROM gate_decisions WHERE ds = ?", [D2])[0]
    numbers = json.loads(row[3])
    log = state.decision_log(instance)
    assert row[1] == log.version_serving(D1)          # gated against the champion serving D2
    assert numbers["delta_low"] <= numbers["delta_auc"] <= numbers["delta_high"]
    assert numbers["config"]["n_boot"] == 400 and numbers["n"] > 2000
    decision = log.serving(D2)
    assert (decision.effective_from, decision.kind, decision.candidate) == (D2, "gate", row[0])
    assert decision.version == (row[0] if row[2] else row[1])
    assert registry.alias_version("champion") == decision.version == log.current()


def test_every_candidate_is_scored_in_the_shadow_of_the_champion_it_was_judged_against(
        forty_days):
    """Candidate D2 (promoted or not) and the champion of D1 on D2 .. D2+6 through Dagster:
    each day's gain is the AUC difference of the two registered models on its labelled
    flights, the realised gain their mean, and the retrain walk reads exactly that."""
    settings, instance, registry = forty_days
    for day in (D1, D2):
        materialize(settings, instance, ["shadow_scores"], day=day)
    latest = state.latest_by_day(instance, state.SHADOW_SCORES)
    assert latest[D1]["candidate_version"] == ""           # the first model beat no one
    shadow = latest[D2]
    decision = state.decision_log(instance).serving(D2)
    assert (shadow["candidate_version"], shadow["champion_version"]) == (
        decision.candidate, decision.replaced)
    days = [D2 + dt.timedelta(days=i) for i in range(7)]
    assert sorted(shadow["gains"]) == [d.isoformat() for d in days]
    models = [registry.load(v) for v in (decision.candidate, decision.replaced)]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        frame = data.labelled_features(conn, days[0], days[-1] + dt.timedelta(days=1))
    for day in days:
        rows = frame[(frame["ds"] == day) & frame["is_delayed"].notna()]
        y = rows["is_delayed"].astype(bool).to_numpy()
        gain = (evaluation.auc(y, models[0].predict_proba(rows))
                - evaluation.auc(y, models[1].predict_proba(rows)))
        assert shadow["gains"][day.isoformat()] == pytest.approx(gain, abs=1e-12)
    assert shadow["realised_gain"] == pytest.approx(np.mean(list(shadow["gains"].values())),
                                                    abs=1e-5)
    assert state.signals(instance).shadow[D2] == pytest.approx(
        {dt.date.fromisoformat(d): g for d, g in shadow["gains"].items()})


def test_the_evaluation_report_is_readable_in_the_ui(forty_days):
    _, instance, registry = forty_days
    record = instance.fetch_materializations(dg.AssetRecordsFilter(
        asset_key=dg.AssetKey("model_evaluation"), asset_partitions=[D2.isoformat()]), limit=1)
    meta = {k: v.value for k, v in record.records[0].asset_materialization.metadata.items()}
    summary = meta["summary"]
    assert summary.startswith(("**PROMOTE**", "**KEEP CHAMPION**"))
    assert "| auc |" in summary and "| brier |" in summary and "carrier=" in summary
    assert "candidate_log_loss" in summary and "champion_auc" in summary
    assert meta["mlflow_run"].startswith("http://127.0.0.1:5000/#/experiments/")
    # the charts, inline: SVG with the candidate's AUC in the legend, and the same files in
    # the candidate's MLflow run
    prefix = "![ROC](data:image/svg+xml;base64,"
    assert meta["roc"].startswith(prefix) and meta["roc"].endswith(")")
    roc = ElementTree.fromstring(base64.b64decode(meta["roc"][len(prefix):-1]))
    texts = [t.text for t in roc.iter("{http://www.w3.org/2000/svg}text")]
    legend = [t for t in texts if t and t.startswith(f"candidate v{meta['candidate_version']} ")]
    assert len(legend) == 1
    assert float(legend[0].split("AUC ")[1].rstrip(")")) == pytest.approx(
        meta["candidate_auc"], abs=6e-4)
    assert "ROC, held-out days" in texts
    run_id = meta["mlflow_run"].rsplit("/", 1)[1]
    logged = {a.path for a in registry.client().list_artifacts(run_id, f"evaluation/{D2}")}
    assert {f"evaluation/{D2}/{name}" for name in ("roc.svg", "calibration.svg",
                                                  "decision.json")} <= logged


def test_rematerializing_a_candidate_reuses_its_version(forty_days):
    settings, instance, registry = forty_days
    before = registry.client().search_model_versions("name = 'flight_delay'")
    materialize(settings, instance, ["candidate_model"], day=D2)
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


def test_the_drift_reference_built_beside_the_fit_is_the_one_built_in_process(forty_days,
                                                                            tmp_path):
    # candidate_model forks the reference's reading and merging while it fits
    from ct_assets.core import loop
    from ct_assets.defs.features.assets import FEATURE_PROFILE
    from ct_assets.defs.monitor import reference
    from ct_assets.defs.train import candidate

    settings, _, _ = forty_days
    store = build_resources(settings)["profile_store"]
    days = [D1 - dt.timedelta(days=i) for i in range(6, 1, -1)]
    building = candidate._start_reference(store, days, tmp_path / "forked")
    building.join()
    assert building.exitcode == 0
    forked = reference.read(tmp_path / "forked")
    direct = loop.drift_reference({d: store.read(FEATURE_PROFILE, d) for d in days})
    assert forked.days == days and forked.calibration == direct.calibration
    assert forked.view.get_column("distance").to_summary_dict() == \
        direct.view.get_column("distance").to_summary_dict()
    # a day without a stored profile: the forked process writes nothing and says so (the step
    # then builds the reference itself, rebuilding the profile from the warehouse)
    building = candidate._start_reference(store, [*days, dt.date(2013, 6, 1)], tmp_path / "gap")
    building.join()
    assert building.exitcode == 3 and not (tmp_path / "gap").exists()


def test_training_refuses_a_window_with_missing_days(forty_days):
    settings, instance, _ = forty_days
    result = materialize(settings, instance, ["candidate_model"], day=dt.date(2013, 2, 19),
                         raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.user_failure_data.description
    assert "refusing to train" in message and "2013-02-15, 2013-02-16, 2013-02-17" in message


def test_a_retrain_for_a_day_older_than_the_newest_decision_is_refused_and_says_why(forty_days):
    settings, instance, registry = forty_days
    versions = len(registry.client().search_model_versions("name = 'flight_delay'"))
    newest = state.decision_log(instance).newest().effective_from
    result = materialize(settings, instance, MODEL_CHAIN[:3], day=dt.date(2013, 2, 3),
                         raise_on_error=False)
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.user_failure_data.description
    assert message.startswith("candidate_model 2013-02-03: refusing: the champion was already "
                              f"decided for a later day, {newest}")
    assert f"Retrain for {newest} or later" in message
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
    message = train_with_store(settings, instance, broken, "2013-02-10")
    assert "unavailable" in message and "champion is unchanged" in message
    assert registry.alias_version("champion") == champion
    # The store is back: the next run of the same partition succeeds.
    assert materialize(settings, instance, ["candidate_model"], day=dt.date(2013, 2, 10)).success


def test_ct_lineage_resolves_every_link_of_the_champion(forty_days, capsys):
    settings, _, registry = forty_days
    capsys.readouterr()
    assert ct(["lineage", "champion"]) == 0
    out = capsys.readouterr().out
    assert "lineage complete" in out and "✗" not in out
    assert f"flight_delay v{registry.alias_version('champion')}" in out
    assert "flights 2013-01-" in out and "(unchanged)" in out
    # the data version of every day of the window, for the features and for the labels
    from ct_assets.defs.retrain import RETRAIN
    assert f"input data versions: {2 * RETRAIN.window_days} partitions" in out


def test_ct_experiments_tables_every_run_and_plots(forty_days, capsys):
    settings, _, _ = forty_days
    assert ct(["experiments"]) == 0
    out = capsys.readouterr().out
    assert "2013-02-01" in out and "2013-02-08" in out and "promote" in out
    assert (settings.data_dir / "reports" / "experiments.png").stat().st_size > 1000


def kill_midway(settings, partition: str, selection: str, point: str, instance) -> int:
    """The exit code of a process that materializes `selection` and is SIGKILLed at `point`
    (`kill_midway.py`), forked from the launcher's forkserver (its imports paid once)."""
    env = {**os.environ, "CT_DATA_DIR": str(settings.data_dir),
           "CT_TEST_INSTANCE": instance.root_directory}
    env.pop("MLFLOW_TRACKING_URI", None)
    process = launcher.forkserver_context().Process(
        target=crash.in_child, args=(env, str(ROOT), partition, selection, point))
    process.start()
    process.join(300)
    if process.is_alive():
        process.kill()
        process.join()
        raise AssertionError(f"{selection} for {partition} did not end within 300 s")
    return process.exitcode


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
    assert kill_midway(settings, day.isoformat(), asset, f"write:{table}", instance) \
        == -signal.SIGKILL
    assert query(settings, rows, [day]) == before       # the old partition, exactly once
    materialize(settings, instance, [asset], day=day)
    assert query(settings, rows, [day]) == before


def test_sigkill_mid_training_leaves_the_champion_until_a_full_gate_decision(forty_days):
    settings, instance, registry = forty_days
    champion = registry.alias_version("champion")
    versions = len(registry.client().search_model_versions("name = 'flight_delay'"))
    day = dt.date(2013, 2, 11)   # a partition no other test trains
    assert kill_midway(settings, day.isoformat(), ",".join(MODEL_CHAIN[:3]), "fit", instance) \
        == -signal.SIGKILL
    assert registry.alias_version("champion") == champion
    assert len(registry.client().search_model_versions("name = 'flight_delay'")) == versions
    assert query(settings, "SELECT count(*) FROM gate_decisions WHERE ds = ?", [day]) == [(0,)]
    materialize(settings, instance, MODEL_CHAIN[:3], day=day)
    decided = query(settings, "SELECT promote, candidate_version FROM gate_decisions "
                              "WHERE ds = ?", [day])[0]
    assert registry.alias_version("champion") == (decided[1] if decided[0] else champion)
    assert state.decision_log(instance).serving(day).effective_from == day


def test_a_read_only_metadata_store_fails_clearly_and_keeps_the_champion(forty_days):
    settings, instance, registry = forty_days
    champion = registry.alias_version("champion")
    versions = len(registry.client().search_model_versions("name = 'flight_delay'"))
    db = settings.data_dir / "mlflow.db"
    read_only = ModelRegistryResource(tracking_uri=f"sqlite:///file:{db}?mode=ro&uri=true",
                                      artifact_root=str(settings.data_dir / "mlartifacts"))
    message = train_with_store(settings, instance, read_only, "2013-02-14")
    assert "readonly database" in message and "champion is unchanged" in message
    assert registry.alias_version("champion") == champion
    assert len(registry.client().search_model_versions("name = 'flight_delay'")) == versions


def test_model_performance_scores_the_served_day_against_its_promise(forty_days):
    settings, instance, registry = forty_days
    materialize(settings, instance, ["model_performance"], day=D2)
    row = query(settings, "SELECT model_version, n, auc, holdout_auc, auc_drop "
                          "FROM model_performance WHERE ds = ?", [D2])[0]
    served = state.decision_log(instance).version_serving(D2)
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

    def refit():
        [record] = instance.fetch_materializations(dg.AssetRecordsFilter(
            asset_key=dg.AssetKey("model_performance"), asset_partitions=[D2.isoformat()]),
            limit=1).records
        meta = record.asset_materialization.metadata
        return meta["refit_gain"].value, meta["refit_reused"].value

    # Scored again (as after a promotion): the cheap refit, which does not depend on the
    # champion, is reused while its inputs are unchanged, and gives the same signal.
    gain, _ = refit()
    materialize(settings, instance, ["model_performance"], day=D2)
    assert refit() == (gain, True)


def test_forced_promotion_and_rollback_change_what_the_next_day_is_scored_with(forty_days):
    """`ct promote --force V` and `ct rollback` are champion_model runs in the decision log;
    each takes effect from the first day not yet scored, which the next scoring uses."""
    from ct_assets.decisions import decide

    settings, instance, registry = forty_days
    log = state.decision_log(instance)
    champion = log.current()
    other = next(str(v.version) for v in registry.client().search_model_versions(
        "name = 'flight_delay'") if str(v.version) != champion and "fingerprint" in v.tags)
    day, meta, ok, error = decide("force", other, instance=instance)
    assert ok, error
    assert (meta["version"], meta["kind"], meta["replaced"]) == (other, "forced", champion)
    assert "via ct promote --force" in meta["decided_by"]
    materialize(settings, instance, ["daily_predictions"], day=day)
    assert query(settings, "SELECT DISTINCT model_version FROM daily_predictions WHERE ds = ?",
                 [day]) == [(other,)]
    assert registry.alias_version("champion") == other
    assert registry.alias_version("previous") == champion
    run = instance.get_run_by_id(meta["run_id"])
    assert run.job_name == "champion_decision"             # a run in the UI, like any other

    back, meta, ok, error = decide("rollback", instance=instance)
    assert ok, error
    assert back == day + dt.timedelta(days=1)              # the first day not yet scored
    assert (meta["version"], meta["kind"]) == (champion, "rollback")
    materialize(settings, instance, ["daily_predictions"], day=back)
    assert query(settings, "SELECT DISTINCT model_version FROM daily_predictions WHERE ds = ?",
                 [back]) == [(champion,)]
    assert registry.alias_version("champion") == champion
    # the day scored under the forced promotion keeps what served it
    assert state.decision_log(instance).version_serving(day) == other

    _, _, ok, error = decide("force", "999", instance=instance)
    assert not ok and "cannot force version '999'" in error


def test_ct_promote_without_an_instance_says_where_it_looked(settings, capsys, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert ct(["promote", "--force", "1"]) == 2
    assert "no Dagster instance at" in capsys.readouterr().out


@pytest.mark.parametrize("point,day", [("register:before", dt.date(2013, 2, 12)),
                                       ("register:after", dt.date(2013, 2, 13))])
def test_sigkill_between_registry_calls_never_leaves_a_half_registered_version(
        forty_days, point, day):
    """Killed before registering: a run without a version, retrained next time. Killed after:
    a complete version (registered with its tags in one call), reused next time. Either way
    the champion is unchanged until the gate decides."""
    settings, instance, registry = forty_days
    champion = state.decision_log(instance).current()
    before = {v.version for v in registry.client().search_model_versions(
        "name = 'flight_delay'")}
    assert kill_midway(settings, day.isoformat(), ",".join(MODEL_CHAIN[:3]), point, instance) \
        == -signal.SIGKILL
    after = registry.client().search_model_versions("name = 'flight_delay'")
    new = [v for v in after if v.version not in before]
    assert len(new) == (1 if point == "register:after" else 0)
    for version in new:
        assert {"fingerprint", "run_id", "partition"} <= set(version.tags)
    assert state.decision_log(instance).current() == champion
    assert registry.alias_version("champion") == champion
    materialize(settings, instance, MODEL_CHAIN[:3], day=day)
    again = registry.client().search_model_versions("name = 'flight_delay'")
    assert len(again) == len(before) + 1               # reused, or registered once
    assert state.decision_log(instance).serving(day).effective_from == day


def test_a_version_missing_its_tags_is_completed_or_retired_and_a_stale_alias_healed(
        forty_days, tmp_path):
    """Versions registered without their tags (by hand, or by older code) are never used: the
    next training run completes one from its run's tags, or retires it when there is no run.
    An alias moved behind the log's back is moved back by the next decision."""
    settings, instance, registry = forty_days
    client = registry.client()
    champion = state.decision_log(instance).current()
    source = client.get_model_version("flight_delay", champion)
    from_run = client.create_model_version("flight_delay", source=source.source,
                                           run_id=source.run_id)
    (tmp_path / "model").mkdir()
    orphan = client.create_model_version("flight_delay", source=str(tmp_path / "model"))
    client.set_registered_model_alias("flight_delay", "champion", orphan.version)
    assert registry.find_version(fingerprint=source.tags["fingerprint"]).version != \
        from_run.version                          # never found before it is complete
    assert sorted(registry.complete_or_retire()) == sorted([
        f"version {from_run.version} completed from run {source.run_id}",
        f"version {orphan.version} retired (no fingerprint, no run to complete it from)"])
    assert client.get_model_version("flight_delay", from_run.version).tags["fingerprint"] == \
        source.tags["fingerprint"]
    assert registry.alias_version("champion") is None     # it went with the retired version
    assert state.reconcile_aliases(registry, state.decision_log(instance)) == \
        [f"champion: None -> {champion}"]
    assert registry.alias_version("champion") == champion


def test_the_candidates_input_versions_name_every_day_of_the_window():
    # a day materialized by a run carries Dagster's data version; one reported from outside a
    # run carries none and is named by its (empty) run id, never left out of the lineage
    from types import SimpleNamespace

    from ct_assets.defs.features.assets import flight_features, flight_labels
    from ct_assets.defs.train.candidate import _input_data_versions

    @dg.asset(key=flight_features.key, partitions_def=dg.DailyPartitionsDefinition("2013-01-01"))
    def features_stand_in() -> None:
        pass

    with dg.instance_for_test() as instance:
        for day in ("2013-01-01", "2013-01-02"):
            assert dg.materialize([features_stand_in], instance=instance, partition_key=day).success
            instance.report_runless_asset_event(
                dg.AssetMaterialization(flight_labels.key, partition=day))
        versions = _input_data_versions(SimpleNamespace(instance=instance),
                                        dt.date(2013, 1, 1), dt.date(2013, 1, 3))
    assert sorted(versions) == ["flight_features/2013-01-01", "flight_features/2013-01-02",
                                "flight_labels/2013-01-01", "flight_labels/2013-01-02"]
    features = [v for k, v in versions.items() if k.startswith("flight_features/")]
    assert all(len(v) == 64 for v in features) and len(set(features)) == 2   # Dagster's hashes
    assert versions["flight_labels/2013-01-01"] == versions["flight_labels/2013-01-02"] == ""
