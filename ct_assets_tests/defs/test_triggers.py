"""The retrain sensor and the weekly schedule on recorded materializations: what they request,
when they stay quiet, and that a repeated tick never requests twice."""

import datetime as dt
import json

import dagster as dg
import pytest

from ct_assets.defs.triggers.sensors import (
    RESCORE_AHEAD_DAYS,
    WINDOW_WAIT_S,
    retrain_sensor,
    weekly_retrain,
)

DAYS = [f"2013-03-{d:02d}" for d in range(1, 11)]
# featurised and labelled: every training window of a retrain for DAYS is complete
READY = [str(dt.date(2013, 1, 20) + dt.timedelta(days=i)) for i in range(50)]


def record(instance, asset: str, partition: str, **metadata) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(
        asset_key=asset, partition=partition, metadata=metadata))


def observe(instance, day: str, drift: float, drop: float, version: str = "3") -> None:
    record(instance, "feature_drift", day, drift_score=drift, model_version=version)
    record(instance, "model_performance", day, auc_drop=drop, model_version=version)


def decide(instance, day: str, version: str = "3", kind: str = "gate") -> None:
    """A champion decision in the log (what a champion_model run records)."""
    record(instance, "champion_model", day, version=version, effective_from=day, kind=kind,
           decided_by="test", reason="test", candidate=version, replaced="")


def featurise(instance, days=READY) -> None:
    for day in days:
        record(instance, "flight_features", day)
        record(instance, "flight_labels", day)


def tick(instance, cursor=None):
    return retrain_sensor(dg.build_sensor_context(instance=instance, cursor=cursor))


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        featurise(instance)
        decide(instance, "2013-03-01")
        record(instance, "candidate_model", "2013-02-25")     # outside the cooldown
        yield instance


def test_quiet_days_request_nothing_and_advance_the_cursor(instance):
    for day in DAYS[:5]:
        observe(instance, day, drift=0.4, drop=0.0)
    result = tick(instance)
    assert result.run_requests == []
    assert json.loads(result.cursor)["last_day"] == "2013-03-05"


def test_drift_above_threshold_requests_one_retrain_for_the_next_day(instance):
    for day in DAYS[:5]:
        observe(instance, day, drift=0.4, drop=0.0)
    observe(instance, DAYS[5], drift=2.4, drop=0.0)
    result = tick(instance)
    [request] = result.run_requests
    assert request.partition_key == "2013-03-07"
    assert request.run_key == "retrain:2013-03-07"
    assert request.tags["ct/trigger"] == "drift"
    assert request.tags["ct/reasons"] == "drift 2.40 >= 0.80"
    # Mar 7 is featurised already (a catch-up): the same run scores it with the champion
    # it decides, instead of a run of its own that the walk would wait for.
    assert {k.to_user_string() for k in request.asset_selection} == {
        "candidate_model", "model_evaluation", "champion_model", "trigger_policy",
        "daily_predictions", "feature_drift", "model_performance", "shadow_scores"}
    # While that run has not finished, the sensor waits instead of judging later days.
    waiting = tick(instance, result.cursor)
    assert isinstance(waiting, dg.SkipReason) and "2013-03-07" in str(waiting.skip_message)
    # Once it is given up on (never launched), the same day is not requested again.
    state = json.loads(result.cursor) | {"requested_at": 0}
    again = tick(instance, json.dumps(state))
    assert again.run_requests == []
    assert json.loads(again.cursor)["last_day"] == "2013-03-06"


def test_a_retrain_due_waits_while_a_day_of_its_window_is_not_featurised():
    with dg.instance_for_test() as instance:
        for day in READY:
            if day != "2013-02-20":                           # failed, or still to come
                record(instance, "flight_features", day)
            record(instance, "flight_labels", day)
        decide(instance, "2013-03-01")
        for day in DAYS[:5]:
            observe(instance, day, drift=0.4, drop=0.0)
        observe(instance, DAYS[5], drift=2.4, drop=0.0)
        result = tick(instance)
        assert result.run_requests == []
        assert result.skip_reason.skip_message == (
            "a retrain for 2013-03-07 is due (drift 2.40 >= 0.80); its window waits for the "
            "features and labels of 2013-02-20")
        cursor = json.loads(result.cursor)
        assert cursor["last_day"] == "2013-03-05"                  # D is judged again
        assert tick(instance, result.cursor).run_requests == []    # still waiting
        # a day missing for good (failed, never landed) does not hold the walk forever: after
        # WINDOW_WAIT_S the retrain is requested and candidate_model names the day
        cursor["window_wait"]["since"] -= WINDOW_WAIT_S + 1
        [request] = tick(instance, json.dumps(cursor)).run_requests
        assert request.partition_key == "2013-03-07"
        # the day featurised in time: requested at once
        record(instance, "flight_features", "2013-02-20")
        [request] = tick(instance, result.cursor).run_requests
        assert request.partition_key == "2013-03-07"


def test_a_performance_drop_and_a_rising_forecast_trigger_with_their_reasons(instance):
    # the drop is judged over 3 days: 0.06 on one day is not enough, three bad days are
    for day, drop in zip(DAYS[:3], [0.001, 0.06, 0.07], strict=True):
        observe(instance, day, drift=0.2, drop=drop)
    [request] = tick(instance).run_requests
    assert request.tags["ct/trigger"] == "performance"
    assert request.tags["ct/reasons"] == "performance drop 0.0437 >= 0.0400"
    assert request.partition_key == "2013-03-04"

    with dg.instance_for_test() as other:
        featurise(other)
        decide(other, "2013-03-01")
        for day, value in zip(DAYS[:6], [0.2, 0.31, 0.42, 0.53, 0.64, 0.75], strict=True):
            observe(other, day, drift=value, drop=0.0)
        [request] = tick(other).run_requests
        assert request.tags["ct/trigger"] == "predicted_drift"
        assert request.partition_key == "2013-03-05"      # while the series is at 0.53 < 0.8
        assert int(request.tags["ct/lead_days"]) >= 1


def test_days_scored_against_another_champion_wait(instance):
    # Mar 1, the decided day itself, scored against the champion before: automation may have
    # seen it handled in the tick its decision landed, so the sensor asks for its re-scoring
    # and does not judge a stale score
    observe(instance, DAYS[0], drift=3.0, drop=0.0, version="2")    # stale score
    result = tick(instance)
    [request] = result.run_requests
    assert request.run_key == "rescore:2013-03-01:2013-03-01:v3"
    assert json.loads(result.cursor)["last_day"] is None
    waiting = tick(instance, result.cursor)                          # asked for once
    assert waiting.run_requests == []
    assert "waiting for the re-scoring of 2013-03-01 .. 2013-03-01" in \
        waiting.skip_reason.skip_message


def test_the_weekly_schedule_retrains_for_the_day_after_the_latest_features(instance):
    request = weekly_retrain(dg.build_schedule_context(instance=instance))
    assert request.partition_key == "2013-03-11"
    assert request.tags["ct/trigger"] == "scheduled"
    assert request.run_key == "scheduled:2013-03-11"
    # a day not featurised yet (the usual day after): the retrain alone, its scoring follows
    # the day's landing
    assert {k.to_user_string() for k in request.asset_selection} == {
        "candidate_model", "model_evaluation", "champion_model", "trigger_policy"}
    # never for a day older than the newest decision (it would rewrite decided days)
    decide(instance, "2013-03-20")
    skipped = weekly_retrain(dg.build_schedule_context(instance=instance))
    assert isinstance(skipped, dg.SkipReason)
    assert "already decided for a later day, 2013-03-20" in skipped.skip_message


def test_the_weekly_schedule_is_off_by_default():
    assert weekly_retrain.default_status == dg.DefaultScheduleStatus.STOPPED


def test_a_champion_defended_at_the_gate_is_not_stale():
    with dg.instance_for_test() as instance:
        featurise(instance)
        decide(instance, "2013-02-01")
        for day in DAYS[:5]:
            observe(instance, day, drift=0.4, drop=0.0)
        # promoted on Feb 1 and never judged since: stale for Mar 2 (29 days > 14)
        [request] = tick(instance).run_requests
        assert request.tags["ct/trigger"] == "stale"
        assert request.tags["ct/reasons"] == "champion last confirmed 29 days ago (> 14)"
        # a candidate for Feb 25 lost to it at the gate: it was confirmed then, not stale
        decide(instance, "2013-02-25")
        result = tick(instance)
        assert result.run_requests == [] and json.loads(result.cursor)["last_day"] == "2013-03-05"


def test_days_scored_before_their_champion_was_decided_are_rescored_once(instance):
    # The first champion was decided for Mar 1 after Mar 2-4 had been scored without one
    # (a catch-up): automation refreshes Mar 1 only; the walk judges Mar 1, stops at Mar 2
    # and asks for Mar 2-4 to be re-scored.
    observe(instance, DAYS[0], drift=0.4, drop=0.0)
    for day in DAYS[1:4]:
        record(instance, "feature_drift", day, drift_score=None, model_version="")
    first = tick(instance)
    [request] = first.run_requests
    assert request.run_key == "rescore:2013-03-02:2013-03-04:v3"
    assert request.tags["dagster/asset_partition_range_start"] == "2013-03-02"
    assert request.tags["dagster/asset_partition_range_end"] == "2013-03-04"
    assert {k.to_user_string() for k in request.asset_selection} == {
        "daily_predictions", "feature_drift", "model_performance"}
    assert json.loads(first.cursor)["last_day"] == "2013-03-01"
    # while it runs, the walk waits at Mar 2 instead of judging around the gap
    waiting = tick(instance, first.cursor)
    assert waiting.run_requests == [] and "re-scoring" in waiting.skip_reason.skip_message
    assert json.loads(waiting.cursor)["last_day"] == "2013-03-01"
    # once they are scored against the serving champion, the days are judged
    for day in DAYS[1:4]:
        observe(instance, day, drift=0.4, drop=0.0)
    judged = tick(instance, waiting.cursor)
    assert judged.run_requests == [] and json.loads(judged.cursor)["last_day"] == "2013-03-04"


def test_a_tick_that_requests_a_retrain_leaves_the_rescoring_to_the_next(instance,
                                                                        monkeypatch):
    # Stale days close ahead of a retrain: on a DuckDB file a re-scoring run beside the retrain
    # run would slow the run the walk waits for; it is asked for once that run is over.
    for day in DAYS[:5]:
        observe(instance, day, drift=0.4, drop=0.0)
    observe(instance, DAYS[5], drift=2.4, drop=0.0)                 # a retrain for Mar 7
    record(instance, "feature_drift", DAYS[7], drift_score=None, model_version="2")
    first = tick(instance)
    assert [r.run_key for r in first.run_requests] == ["retrain:2013-03-07"]
    over = json.loads(first.cursor) | {"requested_at": 0}           # its run is over
    second = tick(instance, json.dumps(over))
    assert [r.run_key for r in second.run_requests] == ["rescore:2013-03-08:2013-03-08:v3"]
    # on a server warehouse (the cluster's DuckLake) both go at once, on different workers
    monkeypatch.setenv("CT_WAREHOUSE",
                       "ducklake+postgresql://ct@127.0.0.1/ct_lake?data_path=/tmp/lake/")
    both = tick(instance)
    assert sorted(r.run_key for r in both.run_requests) == [
        "rescore:2013-03-08:2013-03-08:v3", "retrain:2013-03-07"]


def test_stale_days_far_ahead_of_the_walk_wait_until_it_gets_close(instance):
    # Each promotion makes every later day stale again: only the days the walk is about to
    # judge are re-scored, not the rest of a year at each promotion.
    for day in DAYS[:4]:
        observe(instance, day, drift=0.4, drop=0.0)
    far = dt.date(2013, 3, 5) + dt.timedelta(days=RESCORE_AHEAD_DAYS + 1)
    record(instance, "feature_drift", far.isoformat(), drift_score=None, model_version="2")
    result = tick(instance)
    assert result.run_requests == [] and json.loads(result.cursor)["last_day"] == "2013-03-04"
    near = far - dt.timedelta(days=1)
    record(instance, "feature_drift", near.isoformat(), drift_score=None, model_version="2")
    [request] = tick(instance, result.cursor).run_requests
    assert request.run_key == f"rescore:{near}:{far}:v3"
