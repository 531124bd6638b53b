"""The loop on real engines, as `make cluster` runs it: the Dagster daemon on Postgres storage,
two Celery workers executing the runs, the MLflow tracking server (Postgres store, proxied
artifacts) and the DuckLake warehouse. Nothing is driven by hand: days land, the daemon's
sensors and automation do the rest, and the test reads the instance, the registry and the
warehouse. A worker is killed in the middle of a step on the way."""

import datetime as dt
import time

import dagster as dg

from ct_assets.core import warehouse
from ct_assets.core.days import day_range
from ct_assets_tests.cluster.harness import KILLED, SENSOR_INTERVAL_S, land, land_at_once

FIRST = dt.date(2013, 1, 1)
FIRST_DAYS = 14                    # enough for a first model's window (harness.WINDOW_DAYS)
KILLED_DAY = dt.date(2013, 1, 15)                          # landed alone after the first champion
LAST = (dt.date(2013, 1, 16), dt.date(2013, 1, 29))        # then these, in two deliveries:
SHIFT_FROM = dt.date(2013, 1, 18)                          # every departure 90 min later
LATER = dt.date(2013, 1, 20)       # the second delivery, as the walk judges the first
# Last, two deliveries with a day between them land at once: a run each, side by side
APART = ((dt.date(2013, 2, 1), dt.date(2013, 2, 3)), (dt.date(2013, 2, 5), dt.date(2013, 2, 7)))


def test_two_weeks_land_and_the_daemon_trains_a_first_champion(cluster):
    land(cluster.settings, list(day_range(FIRST, FIRST + dt.timedelta(days=FIRST_DAYS))))
    # Requested by the sensor because there was none (a first candidate can also lose at the
    # gate's floors; the sensor then tries again once more days are featurised).
    run = cluster.wait_until(
        lambda: next((r for r in cluster.retrain_runs()
                      if r.status == dg.DagsterRunStatus.SUCCESS), None), 900,
        "a first retrain run to succeed")
    assert run.tags["ct/trigger"] == "stale" and run.tags["ct/reasons"] == "no champion yet"
    assert cluster.champion() is not None


def test_a_worker_killed_mid_step_fails_its_run_clearly_and_the_retry_loses_nothing(cluster):
    cluster.wait_quiet()            # the first days are all judged: nothing else moves the model
    before = (cluster.champion(), cluster.model_versions())
    land(cluster.settings, [KILLED_DAY])
    victim = cluster.kill_worker_in_step("validated_flights", KILLED_DAY)
    cluster.wait_until(lambda: victim.pid not in cluster.worker_pids(), 30,
                       f"the killed worker process {victim.pid} to be gone", every_s=0.5)
    failed = cluster.wait_until(lambda: cluster.finished(victim.run_id), 180,
                                "the killed run to be marked failed")
    assert failed.status == dg.DagsterRunStatus.FAILURE
    message = cluster.failure_message(victim.run_id)
    assert "Celery worker" in message and KILLED in message, message
    retry = cluster.wait_until(lambda: cluster.retry_of(victim.run_id), 240,
                               "the retry of the killed run to succeed")
    assert retry.status == dg.DagsterRunStatus.SUCCESS, cluster.failure_message(retry.run_id)
    # The kill changed no model: no version registered, the same champion (the day is judged
    # only once it is validated, featurised and scored).
    assert (cluster.champion(), cluster.model_versions()) == before
    with warehouse.connect(cluster.settings.warehouse, read_only=True) as conn:
        rows = conn.execute("SELECT count(*) FROM validated_flights WHERE ds = ?",
                            [KILLED_DAY]).fetchall()[0][0]
    assert rows == cluster.landed_flights(KILLED_DAY)           # once, not twice


def test_a_shift_in_departure_delays_leads_to_a_drift_retrain(cluster):
    cluster.wait_quiet()            # the killed day is featurised and judged: no gap behind
    land(cluster.settings, list(day_range(LAST[0], LATER)), shift_from=SHIFT_FROM)
    # The next days land as the first delivery's run begins: their landing run starts while
    # that run, or the walk's runs over those days (the retrain the shift calls for), are at
    # work. New data does not wait for a retrain, nor a retrain for new data. (A features
    # step that finds a history day not yet validated names it and is refreshed once it is.)
    landed = dg.AssetKey("raw_flights")
    cluster.wait_until(
        lambda: LAST[0].isoformat() in cluster.instance.get_materialized_partitions(landed),
        600, "the first delivery's landing run to begin", every_s=0.2)
    land(cluster.settings, list(day_range(LATER, LAST[1])), shift_from=SHIFT_FROM)

    def drift_retrain():
        runs = [r for r in cluster.retrain_runs() if "drift" in r.tags["ct/trigger"]
                and dt.date.fromisoformat(r.tags["ct/retrain_for"]) > SHIFT_FROM]
        # Its outcome: a run that failed on the infrastructure is retried once (run_retries).
        return next((cluster.outcome(r) for r in runs
                     if r.is_finished and cluster.outcome(r) is not None), None)

    run = cluster.wait_until(drift_retrain, 900, "a drift-triggered retrain after the shift")
    assert run.status == dg.DagsterRunStatus.SUCCESS, cluster.failure_message(run.run_id)
    day = dt.date.fromisoformat(run.tags["ct/retrain_for"])
    with warehouse.connect(cluster.settings.warehouse, read_only=True) as conn:
        score, top = conn.execute("SELECT score, top_feature FROM feature_drift WHERE ds = ?",
                                  [SHIFT_FROM]).fetchall()[0]
        decided = conn.execute("SELECT count(*) FROM gate_decisions WHERE ds = ?",
                               [day]).fetchall()[0][0]
    assert score >= 1.0 and top == "origin_dep_delay_2h"
    assert decided == 1                                         # evaluated and decided


def test_nothing_landed_was_lost_and_every_day_is_there_once(cluster):
    cluster.wait_quiet()            # the second delivery's run may outlast the drift retrain
    days = list(day_range(FIRST, LAST[1]))
    with warehouse.connect(cluster.settings.warehouse, read_only=True) as conn:
        counts = {table: dict(conn.execute(
            f"SELECT ds, count(*) FROM {table} GROUP BY ds").fetchall())
            for table in ("raw_flights", "validated_flights", "quarantined_flights")}
        duplicates = conn.execute(
            "SELECT count(*) - count(DISTINCT (ds, carrier, flight, origin)) "
            "FROM validated_flights").fetchall()[0][0]
    for day in days:
        landed = cluster.landed_flights(day)
        assert counts["raw_flights"].get(day) == landed, day
        assert counts["validated_flights"].get(day, 0) \
            + counts["quarantined_flights"].get(day, 0) == landed, day
    assert duplicates == 0


def test_an_idle_cluster_does_not_open_a_connection_per_query(cluster):
    """The daemon, sensors and workers keep their Postgres connections (`cluster/storage.py`):
    Dagster's own storage opened about 29 a second here, idle. And they do not pile up."""
    for _ in range(3):      # a run that began in the window (a late rescore, say): again
        cluster.wait_quiet(quiet_s=SENSOR_INTERVAL_S)
        runs = cluster.instance.get_runs_count()
        (opened_before, open_before), started = cluster.postgres_sessions(), time.monotonic()
        time.sleep(2 * SENSOR_INTERVAL_S)
        opened_after, open_after = cluster.postgres_sessions()
        if cluster.instance.get_runs_count() == runs:
            break
    else:
        raise AssertionError("no 10 s without a new run:\n" + cluster.diagnostics())
    opened = opened_after - opened_before
    # what remains: a sensor's tick in the code server opens an instance of its own, and
    # closes its connections with it
    assert opened / (time.monotonic() - started) < 5, f"{opened} connections opened"
    assert open_after <= open_before + 2, (open_before, open_after)


def test_every_other_failed_run_was_a_decision_of_the_pipeline_or_was_retried(cluster):
    """A run may fail on purpose (a candidate below the gate's floors, a blocking check); no run
    may fail on the infrastructure (a lost write conflict, a server) without a successful
    retry."""
    for run in cluster.instance.get_runs():
        if run.status != dg.DagsterRunStatus.FAILURE or run.run_id == cluster.killed_run_id \
                or run.tags.get("dagster/parent_run_id") == cluster.killed_run_id:
            continue
        retry = cluster.retry_of(run.run_id)
        decided = cluster.failed_on_purpose(run.run_id)
        assert decided or (retry is not None and retry.status == dg.DagsterRunStatus.SUCCESS), \
            f"{cluster.describe_runs([run])}: {cluster.failure_message(run.run_id)}"


def test_every_service_listens_on_loopback_only(cluster):
    import psutil

    ours = set(cluster.service_pids())
    listening = [c for c in psutil.net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN and c.pid in ours]
    assert listening, "no listening socket found for the cluster's processes"
    assert {c.laddr.ip for c in listening} <= {"127.0.0.1"}, listening


def test_two_workers_run_two_runs_side_by_side(cluster):
    """Last (its runs would disturb the idle cluster's count of connections): two ranges of
    days land in the same sensor tick, on an idle cluster; the landing sensor asks for a run
    per range, the queue hands both to the launcher at once, and each worker takes one."""
    cluster.wait_quiet(quiet_s=SENSOR_INTERVAL_S)
    land_at_once(cluster.settings, [d for first, last in APART for d in day_range(first, last)])

    def landing_runs():
        runs = cluster.instance.get_runs(filters=dg.RunsFilter(
            tags={"dagster/sensor_name": "landing_sensor"}))
        ours = [r for r in runs if r.tags.get("dagster/asset_partition_range_start")
                in {first.isoformat() for first, _ in APART}]
        return len(ours) == 2 and all(cluster.finished(r.run_id) for r in ours) and ours

    runs = cluster.wait_until(landing_runs, 300, "a landing run per range to finish")
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), cluster.describe_runs(runs)
    overlaps, steps = cluster.overlapping_steps({r.run_id for r in runs})
    assert overlaps, "no two steps of different workers overlapped in the event log:\n" + \
        "\n".join(f"  {s.worker} {s.run_id[:8]} {s.key} {s.start - steps[0].start:.1f}-"
                  f"{s.end - steps[0].start:.1f} s" for s in steps)
    (a, b) = overlaps[0]
    assert a.worker != b.worker and a.start < b.end and b.start < a.end
