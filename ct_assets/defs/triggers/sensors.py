"""Triggers that request a retrain: the retrain sensor (drift, performance, their forecasts,
staleness) and the weekly schedule. Both request the same runs: `candidate_model →
model_evaluation → champion_model → trigger_policy` for one partition, tagged with why.

The retrain sensor gathers its inputs (the decision log, each served day's signals, the
thresholds) and hands them to `core.walk.walk`, the same walk `ct bench policies` replays
as its `production` policy; it stops at a requested retrain until that run has finished, so
the days after it are judged against the model that then serves them.

Catch-up: when a champion is decided for day D after D+1.. were already scored (by no champion
or an older one), automation refreshes D only (its own `champion_model` partition changed).
The walk stops at the first day scored against another model than the one serving it, and the
sensor asks for the re-scoring of the stale days just ahead of it, `RESCORE_CHUNK_DAYS` at a
time: every promotion makes all the days after it stale again, and re-scoring the rest of a
year at each of them cost more than everything else the catch-up did. On a DuckDB file it asks
on a tick that requests no retrain: a re-scoring beside a retrain run slows both (one writer,
two cores), and the retrain run's end is what the walk waits for. On a server warehouse
(`make cluster`) the two run side by side, on different workers.
"""

import datetime as dt
import json
import time
from collections.abc import Callable

import dagster as dg

from ct_assets.core import policy, walk
from ct_assets.core import warehouse_backends as backends
from ct_assets.defs import state
from ct_assets.defs.features.assets import flight_features, flight_labels
from ct_assets.defs.monitor.assets import SCORING
from ct_assets.defs.monitor.shadow import shadow_scores
from ct_assets.defs.partitions import daily_partitions
from ct_assets.defs.retrain import RETRAIN as RETRAIN_SPEC
from ct_assets.defs.tags import LEAD_TAG, REASONS_TAG, RESCORE_TAG, RETRAIN_FOR_TAG, TRIGGER_TAG
from ct_assets.defs.train.candidate import candidate_model
from ct_assets.defs.train.champion import champion_model
from ct_assets.defs.train.evaluation import model_evaluation
from ct_assets.defs.triggers.assets import trigger_policy
from ct_assets.settings import Settings

RETRAIN = [candidate_model, model_evaluation, champion_model, trigger_policy]
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
POLICY = policy.PolicyConfig()     # the defaults tuned by `ct bench policies`, in core
LABELS_GRACE_DAYS = 2        # judge a day on drift alone once labels are this late
LAUNCH_TIMEOUT_S = 600       # a requested run that never appeared is given up on
WINDOW_WAIT_S = 900          # a window day still missing after this is not coming by itself
# A tick reads the decision log and each served day's signals (well under a second): every
# 10 s, a retrain follows the run that made it due within seconds, not half a minute.
SENSOR_INTERVAL_S = 10
RESCORE_AHEAD_DAYS = 7       # re-score stale days once the walk is this close to them ...
RESCORE_CHUNK_DAYS = 14      # ... this many days from the first at a time


def retrain_request(request: walk.Request, *, prefix: str,
                    featurised: bool = False) -> dg.RunRequest:
    """The retrain run for `request.day`; when the day is featurised already (a catch-up), the
    same run then scores it with the champion just decided (what automation would request
    next, in a run of its own, while the walk waits for it)."""
    tags = {TRIGGER_TAG: ",".join(request.kinds), REASONS_TAG: "; ".join(request.reasons)[:1000],
            RETRAIN_FOR_TAG: request.day.isoformat()}
    if request.lead_days is not None:
        tags[LEAD_TAG] = str(request.lead_days)
    assets = [*RETRAIN, *SCORING, shadow_scores] if featurised else RETRAIN
    return dg.RunRequest(run_key=f"{prefix}:{request.day.isoformat()}",
                         partition_key=request.day.isoformat(),
                         asset_selection=[a.key for a in assets], tags=tags)


def _rescore_key(days: list[dt.date], version: str) -> str:
    return f"{days[0].isoformat()}:{days[-1].isoformat()}:v{version}"


def rescore_request(days: list[dt.date], version: str) -> dg.RunRequest:
    """One run re-scoring the days `days[0] .. days[-1]` with the champions serving them."""
    key = _rescore_key(days, version)
    return dg.RunRequest(run_key=f"rescore:{key}",
                         asset_selection=[a.key for a in SCORING],
                         tags={RANGE_START: days[0].isoformat(), RANGE_END: days[-1].isoformat(),
                               RESCORE_TAG: key,
                               REASONS_TAG: f"scored before champion version {version} was "
                                            f"decided for them"})


def _finished(instance, day: dt.date, requested_at: float) -> bool:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={RETRAIN_FOR_TAG: day.isoformat()}))
    if not runs:
        return time.time() - requested_at > LAUNCH_TIMEOUT_S
    return all(run.is_finished for run in runs)


def _one_writer() -> bool:
    """Whether the warehouse admits one writer process at a time (a DuckDB file)."""
    return not backends.parse_target(Settings.from_env().warehouse).concurrent_writers


def _valid(day: dt.date) -> bool:
    return daily_partitions.has_partition_key(day.isoformat())


def _days(instance, asset) -> set[dt.date]:
    return {dt.date.fromisoformat(k) for k in instance.get_materialized_partitions(asset.key)}


def next_trainable_day(have: set[dt.date]) -> dt.date | None:
    """The day the first champion serves, if its whole training window is in `have` (the
    days with features and labels): `CT_SERVE_FROM` when set, else the day after the latest
    featurised day (the first champion serves the days to come)."""
    if not have:
        return None
    target = Settings.from_env().serve_from or max(have) + dt.timedelta(days=1)
    return target if _valid(target) and all(d in have for d in RETRAIN_SPEC.days(target)) \
        else None


def window_unready(have: set[dt.date], cursor: dict) -> Callable[[dt.date], str | None]:
    """For the walk: which days of a training window are not yet in `have` (the days with
    features and labels). A day in
    flight (a run or its retry still to come) is waited for, at most WINDOW_WAIT_S: a day that
    failed for good or never landed would otherwise hold the walk forever, so after that the
    retrain is requested and `candidate_model` refuses the window, naming the day."""

    def unready(day: dt.date) -> str | None:
        missing = [d for d in RETRAIN_SPEC.days(day) if d not in have]
        if not missing:
            cursor.pop("window_wait", None)
            return None
        waiting = cursor.get("window_wait") or {}
        if waiting.get("day") != day.isoformat():
            waiting = cursor["window_wait"] = {"day": day.isoformat(), "since": time.time()}
        if time.time() - waiting["since"] > WINDOW_WAIT_S:
            return None
        shown = ", ".join(str(d) for d in missing[:3]) + (" ..." if len(missing) > 3 else "")
        return f"the features and labels of {shown}"
    return unready


def _state(cursor: dict) -> walk.WalkState:
    def day(key):
        return (dt.date.fromisoformat(cursor[key]) if cursor.get(key) else None)
    return walk.WalkState(last_day=day("last_day"), last_retrain=day("last_retrain"),
                          bootstrap=day("bootstrap"))


def _cursor(step_state: walk.WalkState, extra: dict) -> str:
    out = dict(extra)
    for key in ("last_day", "last_retrain", "bootstrap"):
        value = getattr(step_state, key)
        out[key] = value.isoformat() if value else None
    return json.dumps(out)


def rescore_ahead(instance, log, scored: dict[dt.date, str], frontier: dt.date | None,
                  cursor: dict) -> tuple[dg.RunRequest | None, str | None]:
    """The re-scoring the walk needs next: (a run request, or why it waits for one).

    Stale days are days scored against another model than the one serving them (a catch-up
    decided their champion after they were scored). Once the walk (about to judge `frontier`)
    is within `RESCORE_AHEAD_DAYS` of the first of them, one run re-scores the stale days of
    `RESCORE_CHUNK_DAYS` from it; the next chunk is asked for when the walk gets close to it.
    A chunk is asked for once (its run key holds the range and version); while one is in
    flight no other is requested. `scored`: `state.scored_days`."""
    stale = walk.to_rescore(scored, log)
    if not stale:
        cursor.pop("rescore", None)
        cursor.pop("rescore_at", None)
        return None, None
    previous = cursor.get("rescore")
    if previous:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={RESCORE_TAG: previous}))
        launched = runs or time.time() - cursor["rescore_at"] > LAUNCH_TIMEOUT_S
        if not launched or not all(run.is_finished for run in runs):
            first, last = previous.split(":")[:2]
            return None, f"waiting for the re-scoring of {first} .. {last}"
    if frontier is not None and stale[0] > frontier + dt.timedelta(days=RESCORE_AHEAD_DAYS):
        return None, None
    chunk = [d for d in stale if d < stale[0] + dt.timedelta(days=RESCORE_CHUNK_DAYS)]
    request = rescore_request(chunk, log.version_serving(chunk[-1]))
    if request.tags[RESCORE_TAG] == previous:
        return None, (f"the re-scoring of {chunk[0]} .. {chunk[-1]} ran and left "
                      f"{len(chunk)} day(s) scored against another model; see its run")
    cursor.update(rescore=request.tags[RESCORE_TAG], rescore_at=time.time())
    return request, None


@dg.sensor(
    name="retrain_sensor",
    target=[*RETRAIN, *SCORING, shadow_scores],
    minimum_interval_seconds=SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests a retrain when drift, a performance drop, their forecast or the "
                "champion's age says so (core/walk.py, core/policy.py), and the re-scoring "
                "of the days just ahead of its walk that a newer champion now serves.",
)
def retrain_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    instance = context.instance
    cursor = json.loads(context.cursor) if context.cursor else {}
    if cursor.get("in_flight"):
        waiting_for = dt.date.fromisoformat(cursor["in_flight"])
        if not _finished(instance, waiting_for, cursor["requested_at"]):
            return dg.SkipReason(f"waiting for the retrain for {waiting_for} to finish")
        cursor.pop("in_flight")
    log = state.decision_log(instance)
    extra = {k: v for k, v in cursor.items() if k in ("rescore", "rescore_at", "window_wait")}
    retrained = max(_days(instance, candidate_model), default=None)
    labelled = _days(instance, flight_labels)
    have = _days(instance, flight_features) & labelled
    drift_by_day = state.latest_by_day(instance, state.FEATURE_DRIFT)   # read once a tick
    step = walk.walk(state.signals(instance, drift_by_day), log, _state(cursor),
                     policy.Thresholds(),
                     POLICY, next_trainable=next_trainable_day(have), valid=_valid,
                     retrained=retrained, labels_grace_days=LABELS_GRACE_DAYS,
                     unready=window_unready(have, extra), labels_in=labelled.__contains__)
    for day, reasons in step.suppressed:
        context.log.info(f"{day}: {'; '.join(reasons)} — within the cooldown")
    requests = []
    # On a DuckDB file, re-scoring waits for a tick without a retrain: the two runs would take
    # turns on its one writer (and share the cores) while the walk waits for the retrain run's
    # end. A server warehouse (DuckLake, Postgres) runs them side by side.
    if len(log) and (step.request is None or not _one_writer()):
        frontier = step.state.last_day + dt.timedelta(days=1) if step.state.last_day else None
        rescore, waiting = rescore_ahead(instance, log,
                                         state.scored_days(instance, drift_by_day), frontier,
                                         extra)
        if rescore is not None:
            context.log.info(f"re-scoring {rescore.tags[RANGE_START]} .. "
                             f"{rescore.tags[RANGE_END]}: {rescore.tags[REASONS_TAG]}")
            requests.append(rescore)
        if waiting:
            return dg.SensorResult(run_requests=[], cursor=_cursor(step.state, extra),
                                   skip_reason=f"{step.waiting or 'caught up'}; {waiting}")
    if step.request is None:
        return dg.SensorResult(run_requests=requests, cursor=_cursor(step.state, extra),
                               skip_reason=None if requests else step.waiting)
    request = step.request
    context.log.info(f"retrain for {request.day}: {'; '.join(request.reasons)}"
                     + (" (thresholds: " + ", ".join(f"{n} {getattr(step.learned, n):.4g}"
                                                     for n in policy.SIGNALS) + ")"
                        if step.learned else ""))
    extra.pop("window_wait", None)
    extra.update(in_flight=request.day.isoformat(), requested_at=time.time())
    return dg.SensorResult(
        run_requests=[*requests, retrain_request(request, prefix="retrain",
                                                 featurised=request.day in have)],
        cursor=_cursor(step.state, extra))


@dg.schedule(
    name="weekly_retrain",
    cron_schedule="0 3 * * 1",
    target=RETRAIN,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Optional clock backstop (off by default; the retrain sensor's staleness "
                "trigger is the data-time one): every Monday, a retrain for the day after the "
                "latest day with features, never for a day older than the newest decision.",
)
def weekly_retrain(context: dg.ScheduleEvaluationContext):
    days = _days(context.instance, flight_features)
    if not days:
        return dg.SkipReason("no features yet")
    target = max(days) + dt.timedelta(days=1)
    if not _valid(target):
        return dg.SkipReason(f"{target} is past the last partition")
    refusal = state.decision_log(context.instance).refusal_for(target)
    if refusal:
        return dg.SkipReason(f"not retraining for {target}: {refusal}")
    return retrain_request(walk.Request(target, ["scheduled"], ["weekly schedule"]),
                           prefix="scheduled")
