"""The loop closes itself: real sensors and automation ticking against a test instance, on 30
real days landed at once, retrain when the world shifts (every departure from the shift on runs
90 minutes late), and every step is recorded; and `ct bench policies`' `production`
policy, replaying the same days in process, makes exactly the same decisions."""

import datetime as dt
import json

import dagster as dg
import duckdb
import pytest

from ct_assets.bench.policies.lab import Lab
from ct_assets.bench.policies.replay import simulate
from ct_assets.bench.train.data import labelled_frame
from ct_assets.core import policy
from ct_assets.core.days import day_range
from ct_assets.definitions import ASSETS, build_defs, build_resources
from ct_assets.defs import state
from ct_assets.defs.ingest.sensors import landing_sensor
from ct_assets.defs.retrain import RETRAIN
from ct_assets.defs.triggers.sensors import retrain_sensor
from ct_assets_tests.defs.helpers import land_real_day as land
from ct_assets_tests.defs.helpers import processed_days, query

BY_KEY = {a.key: a for a in ASSETS}
ORDER = [a.key for a in ASSETS]
FIRST_SERVED = dt.date(2013, 2, 10)
DAYS = 30
SHIFT_FROM = dt.date(2013, 2, 15)


class Loop:
    """Ticks the project's sensors and automation and runs what they request, as the daemon
    would, recording every run request."""

    def __init__(self, settings, instance):
        self.settings, self.instance = settings, instance
        self.defs = build_defs(settings)
        self.resources = build_resources(settings)
        self.cursors: dict[str, str | None] = {}
        self.automation_cursor = None
        self.requests: list[dg.RunRequest] = []
        self.keys: set[str] = set()

    @property
    def retrains(self) -> list[dg.RunRequest]:
        return [r for r in self.requests if "ct/retrain_for" in r.tags]

    def run(self, selection, *, partition=None, tags=None):
        kwargs = {"partition_key": partition} if partition else {}
        dg.materialize(ASSETS, selection=selection, instance=self.instance,
                       resources=self.resources, tags=tags or {}, raise_on_error=False,
                       **kwargs)

    def sensor(self, sensor) -> int:
        context = dg.build_sensor_context(instance=self.instance, definitions=self.defs,
                                          cursor=self.cursors.get(sensor.name),
                                          resources=self.resources)
        result = sensor(context)
        if isinstance(result, dg.SkipReason):
            return 0
        if isinstance(result, dg.RunRequest):
            result = dg.SensorResult(run_requests=[result])
        self.cursors[sensor.name] = result.cursor or self.cursors.get(sensor.name)
        ran = 0
        for request in result.run_requests:
            if request.run_key and request.run_key in self.keys:
                continue                         # Dagster skips a run key it has seen
            self.keys.add(request.run_key)
            self.requests.append(request)
            self.run(list(request.asset_selection), partition=request.partition_key,
                     tags=request.tags)
            ran += 1
        return ran

    def automation(self) -> int:
        """One evaluation; what it requested runs as the daemon would group it: the assets
        requested for the same days in one range run (in dependency order)."""
        result = dg.evaluate_automation_conditions(defs=self.defs, instance=self.instance,
                                                   cursor=self.automation_cursor)
        self.automation_cursor = result.cursor
        groups: dict[tuple, list] = {}
        for key in ORDER:
            partitions = tuple(sorted(result.get_requested_partitions(key) or []))
            if partitions == (None,) or BY_KEY[key].backfill_policy is None:
                for partition in partitions:
                    self.run([key], partition=partition)
            elif partitions:
                groups.setdefault(partitions, []).append(key)
        for partitions, keys in groups.items():
            self.run(keys, tags={"dagster/asset_partition_range_start": partitions[0],
                                 "dagster/asset_partition_range_end": partitions[-1]})
        return result.total_requested

    def settle(self, max_rounds: int = 80) -> None:
        for _ in range(max_rounds):
            if not (self.sensor(landing_sensor) + self.automation()
                    + self.sensor(retrain_sensor)):
                return
        raise AssertionError("the loop did not settle")


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    with processed_days(tmp_path_factory, "loop", 40) as (settings, instance, days):
        loop = Loop(settings, instance)
        loop.cursors["landing_sensor"] = None
        # The landing sensor has seen the 40 processed days (their runs exist already).
        context = dg.build_sensor_context(instance=instance, resources=loop.resources)
        loop.cursors["landing_sensor"] = landing_sensor(context).cursor
        loop.settle()
        clean_requests = list(loop.retrains)
        # 30 days land at once (a catch-up): the loop ingests, validates and featurises them
        # in range runs, and the retrain walk goes through them day by day, re-scoring the
        # days after each new champion before judging them.
        for day in day_range(FIRST_SERVED, FIRST_SERVED + dt.timedelta(days=DAYS)):
            land(settings, day, delayed=day >= SHIFT_FROM)
        loop.settle()
        yield loop, clean_requests


def test_the_first_champion_is_trained_by_the_sensor_for_the_next_day(loop):
    loop, clean = loop
    assert len(clean) == 1
    first = clean[0]
    assert first.partition_key == "2013-02-10"
    assert first.tags["ct/trigger"] == "stale" and first.tags["ct/reasons"] == "no champion yet"
    served = query(loop.settings, "SELECT min(ds), count(DISTINCT ds) FROM daily_predictions "
                   "WHERE p_delayed IS NOT NULL")
    assert served[0] == (FIRST_SERVED, DAYS)             # Feb 10 .. Mar 11, each day once
    performance = query(loop.settings, "SELECT count(*), min(auc) FROM model_performance")
    assert performance[0][0] == DAYS and performance[0][1] > 0.5   # every day beats chance


def test_a_shift_in_the_world_triggers_a_retrain_within_two_days(loop):
    loop, clean = loop
    drift = dict(query(loop.settings, "SELECT ds, score FROM feature_drift"))
    clean_days = [d for d in drift if d < SHIFT_FROM]
    assert max(drift[d] for d in clean_days) < 1.0           # ordinary days stay quiet
    assert drift[SHIFT_FROM] >= 1.0                          # the detector's own alarm
    top = query(loop.settings, "SELECT top_feature, top_signal FROM feature_drift WHERE ds = ?",
                [SHIFT_FROM])[0]
    assert top[0] == "origin_dep_delay_2h"
    retrains = [r for r in loop.retrains if r not in clean]
    drift_retrains = [r for r in retrains if "drift" in r.tags["ct/trigger"].split(",")]
    seen = [(r.partition_key, r.tags["ct/trigger"]) for r in retrains]
    assert drift_retrains, seen
    # a drift-triggered retrain within two days of the shift, or as soon as the cooldown of a
    # retrain just before it allows
    days = [dt.date.fromisoformat(r.partition_key) for r in loop.retrains]
    last_before = max(d for d in days if d <= SHIFT_FROM)
    allowed = max(SHIFT_FROM + dt.timedelta(days=2),
                  last_before + dt.timedelta(days=policy.PolicyConfig().cooldown_days))
    day = dt.date.fromisoformat(drift_retrains[0].partition_key)
    assert SHIFT_FROM < day <= allowed, seen
    # Requested, evaluated, decided and recorded, with the reason.
    gate = query(loop.settings, "SELECT promote, reason FROM gate_decisions WHERE ds = ?", [day])
    assert len(gate) == 1
    policy_row = query(loop.settings, "SELECT kinds, reasons, promoted, drift_before, "
                       "drift_after FROM trigger_policy WHERE ds = ?", [day])[0]
    assert "drift" in policy_row[0]
    assert policy_row[1].startswith("drift ")
    assert policy_row[2] == gate[0][0]
    decision = state.decision_log(loop.instance).serving(day)
    assert decision.effective_from == day and decision.kind == "gate"
    assert decision.decided_by.startswith("retrain_sensor (drift")


def test_the_cooldown_and_run_keys_prevent_a_retrain_storm(loop):
    loop, _ = loop
    keys = [r.run_key for r in loop.retrains]
    assert len(keys) == len(set(keys))
    days = sorted(dt.date.fromisoformat(r.partition_key) for r in loop.retrains)
    gaps = [(b - a).days for a, b in zip(days, days[1:], strict=False)]
    assert all(g >= 3 for g in gaps), days


def test_repeated_tick_requests_nothing_and_the_cursor_holds(loop):
    loop, _ = loop
    before = json.loads(loop.cursors["retrain_sensor"])
    assert loop.sensor(retrain_sensor) == 0
    after = json.loads(loop.cursors["retrain_sensor"])
    assert after["last_day"] == before["last_day"] == "2013-03-11"


def warehouse_frames(settings):
    """The validated flights and weather and the planes the loop's warehouse holds."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        return tuple(conn.execute(f"SELECT * FROM {table}").df() for table in (
            "validated_flights", "validated_weather", "ref_planes"))


def test_the_production_replay_makes_the_decisions_the_live_loop_made(loop):
    """`ct bench policies`' `production` policy on the same days (the same validated data),
    in process: the same retrain days, for the same reasons, with the same gate verdicts."""
    loop, _ = loop
    end = FIRST_SERVED + dt.timedelta(days=DAYS)
    frames = warehouse_frames(loop.settings)
    for frame in frames[:2]:
        frame["ds"] = frame["ds"].dt.date
    frame = labelled_frame(RETRAIN.window(FIRST_SERVED)[0], end, frames=frames)
    replay = simulate(frame, ["production"], FIRST_SERVED, end, lab=Lab(frame))["production"]
    log = state.decision_log(loop.instance)
    live = [(d.effective_from, sorted(r.tags["ct/trigger"].split(",")), d.version == d.candidate)
            for r in loop.retrains
            for d in [log.serving(dt.date.fromisoformat(r.partition_key))]
            if d.effective_from < end]
    replayed = [(r.day, sorted(r.kinds), r.promoted) for r in replay.retrains]
    assert len(live) >= 3, live                      # the first model and at least two more
    assert replayed == live
