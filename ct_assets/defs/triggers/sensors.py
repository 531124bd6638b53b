"""Triggers that request a retrain: the retrain sensor (drift, performance, their forecasts,
staleness) and the weekly schedule. Both request the same runs: `candidate_model →
model_evaluation → champion_model → trigger_policy` for one partition, tagged with why.

The retrain sensor walks the served days in order (its cursor), and for each day D whose drift
score and performance drop were measured against the champion serving D, asks
`core.policy.decide` whether day D+1 needs a new model. It stops at a requested retrain until
that run has finished, so the days after it are judged against the model that then serves
them. All decision logic lives in `core/policy.py`; this file only gathers the inputs.

Catch-up: when a champion is decided for day D after D+1.. were already scored (by no champion
or an older one), automation refreshes D only (its own `champion_model` partition changed);
the rescore sensor asks for one re-scoring run of the other days, and the retrain sensor waits
for it before judging them.
"""

import datetime as dt
import json
import math
import time

import dagster as dg

from ct_assets.core import policy
from ct_assets.core.days import day_range
from ct_assets.defs.features.assets import flight_features, flight_labels
from ct_assets.defs.monitor.assets import feature_drift, model_performance
from ct_assets.defs.partitions import daily_partitions
from ct_assets.defs.retrain import RETRAIN as RETRAIN_SPEC
from ct_assets.defs.serve.assets import daily_predictions
from ct_assets.defs.train.assets import (
    CHAMPION_MAX_AGE_DAYS,
    candidate_model,
    champion_model,
    model_evaluation,
)
from ct_assets.defs.triggers.assets import (
    LEAD_TAG,
    REASONS_TAG,
    RETRAIN_FOR_TAG,
    TRIGGER_TAG,
    trigger_policy,
)

RETRAIN = [candidate_model, model_evaluation, champion_model, trigger_policy]
SCORING = [daily_predictions, feature_drift, model_performance]
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
RESCORE_TAG = "ct/rescore"
POLICY = policy.PolicyConfig(max_age_days=CHAMPION_MAX_AGE_DAYS)
LABELS_GRACE_DAYS = 2        # judge a day on drift alone once labels are this late
LAUNCH_TIMEOUT_S = 600       # a requested run that never appeared is given up on


def retrain_request(day: dt.date, kinds: list[str], reasons: list[str], *, prefix: str,
                    lead_days: int | None = None) -> dg.RunRequest:
    tags = {TRIGGER_TAG: ",".join(kinds), REASONS_TAG: "; ".join(reasons)[:1000],
            RETRAIN_FOR_TAG: day.isoformat()}
    if lead_days is not None:
        tags[LEAD_TAG] = str(lead_days)
    return dg.RunRequest(run_key=f"{prefix}:{day.isoformat()}", partition_key=day.isoformat(),
                         asset_selection=[a.key for a in RETRAIN], tags=tags)


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


def _to_rescore(instance, champions: dict, drift: dict) -> list[dt.date]:
    """Days already scored whose score is missing or against another model than the champion
    serving them, when that champion was decided for an earlier day (automation refreshes a
    day whose own champion partition changed, not the days after it)."""
    scored = sorted(dt.date.fromisoformat(k) for k in
                    instance.get_materialized_partitions(feature_drift.key))
    out = []
    for day in scored:
        serving = _serving(champions, day)
        if serving is None or _last_confirmed(champions, day) == day:
            continue
        if day not in drift or drift[day][1] != serving[0]:
            out.append(day)
    return out


def _metadata_by_day(instance, asset, field: str, limit: int = 400) -> dict[dt.date, object]:
    """Per-day values of a metadata field, newest materialization first (wins)."""
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=asset.key),
                                              limit=limit).records
    out: dict[dt.date, object] = {}
    for record in records:                       # newest first
        entry = record.asset_materialization.metadata.get(field)
        if entry is None:
            continue
        for day, value in entry.value.items():
            out.setdefault(dt.date.fromisoformat(day), value)
    return out


def _champions(instance) -> dict[dt.date, tuple[str, dt.date]]:
    """Partition of each champion decision → (serving version, the day it first served)."""
    records = instance.fetch_materializations(dg.AssetRecordsFilter(
        asset_key=champion_model.key), limit=1000).records
    out = {}
    for record in records:
        mat = record.asset_materialization
        day = dt.date.fromisoformat(mat.partition)
        if day in out:
            continue
        meta = {k: v.value for k, v in mat.metadata.items()}
        out[day] = (str(meta["serving_version"]),
                    dt.date.fromisoformat(str(meta.get("serving_since", day))))
    return out


def _serving(champions: dict, day: dt.date) -> tuple[str, dt.date] | None:
    decided = [d for d in champions if d <= day]
    return champions[max(decided)] if decided else None


def _last_confirmed(champions: dict, day: dt.date) -> dt.date:
    """The last gate decision for a day up to `day`: the day the champion serving `day` was
    promoted, or defended against a candidate (a rejected candidate confirms the champion)."""
    return max(d for d in champions if d <= day)


def _thresholds(instance) -> policy.Thresholds:
    event = instance.get_latest_materialization_event(trigger_policy.key)
    if event is None or event.asset_materialization is None:
        return policy.Thresholds()
    meta = event.asset_materialization.metadata
    return policy.Thresholds(drift=float(meta["drift_threshold"].value),
                             performance=float(meta["performance_threshold"].value))


def _finished(instance, day: dt.date, requested_at: float) -> bool:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={RETRAIN_FOR_TAG: day.isoformat()}))
    if not runs:
        return time.time() - requested_at > LAUNCH_TIMEOUT_S
    return all(run.is_finished for run in runs)


def _valid(day: dt.date) -> bool:
    return daily_partitions.has_partition_key(day.isoformat())


def _next_trainable_day(instance) -> dt.date | None:
    """The day after the latest featurised day, if its whole training window has features and
    labels: the first champion serves the days to come."""
    have = set.intersection(*(
        {dt.date.fromisoformat(k) for k in instance.get_materialized_partitions(a.key)}
        for a in (flight_features, flight_labels)))
    if not have:
        return None
    target = max(have) + dt.timedelta(days=1)
    return target if _valid(target) and all(d in have for d in RETRAIN_SPEC.days(target)) else None


@dg.sensor(
    name="retrain_sensor",
    target=RETRAIN,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests a retrain when drift, a performance drop, their forecast or the "
                "champion's age says so (core/policy.py).",
)
def retrain_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    instance = context.instance
    state = json.loads(context.cursor) if context.cursor else {}
    if state.get("in_flight"):
        waiting_for = dt.date.fromisoformat(state["in_flight"])
        if not _finished(instance, waiting_for, state["requested_at"]):
            return dg.SkipReason(f"waiting for the retrain for {waiting_for} to finish")
        state.pop("in_flight")
    champions = _champions(instance)
    last_retrain = max([dt.date.fromisoformat(k) for k in
                        instance.get_materialized_partitions(candidate_model.key)]
                       + ([dt.date.fromisoformat(state["last_retrain"])]
                          if state.get("last_retrain") else []), default=None)

    def request(day, kinds, reasons, lead=None):
        state.update(in_flight=day.isoformat(), requested_at=time.time(),
                     last_retrain=day.isoformat())
        context.log.info(f"retrain for {day}: {'; '.join(reasons)}")
        return dg.SensorResult(
            run_requests=[retrain_request(day, kinds, reasons, prefix="retrain",
                                          lead_days=lead)],
            cursor=json.dumps(state))

    if not champions:
        first = _next_trainable_day(instance)
        if first is None:
            return dg.SkipReason("no champion yet and no complete training window")
        if state.get("bootstrap") == first.isoformat():
            return dg.SkipReason(f"the first retrain (for {first}) produced no champion; "
                                 "see its gate decision")
        state["bootstrap"] = first.isoformat()
        return request(first, ["stale"], ["no champion yet"])

    drift = _metadata_by_day(instance, feature_drift, "scores_by_day")
    stale_scores = _to_rescore(instance, champions, drift)
    if stale_scores:                        # rescore_sensor asks for them; wait for it
        key = _rescore_key(stale_scores, _serving(champions, stale_scores[-1])[0])
        if state.get("rescore") != key:
            state.update(rescore=key, rescore_at=time.time())
        runs = instance.get_runs(filters=dg.RunsFilter(tags={RESCORE_TAG: key}))
        launched = runs or time.time() - state["rescore_at"] > LAUNCH_TIMEOUT_S
        if not launched or not all(run.is_finished for run in runs):
            return dg.SensorResult(run_requests=[], cursor=json.dumps(state),
                                   skip_reason=f"waiting for the re-scoring of "
                                               f"{stale_scores[0]} .. {stale_scores[-1]}")
        context.log.warning(f"re-scoring {stale_scores[0]} .. {stale_scores[-1]} did not give "
                            "scores against the serving champion; judging the days scored")
    drop = _metadata_by_day(instance, model_performance, "auc_drop_by_day")
    thresholds = _thresholds(instance)
    last_day = dt.date.fromisoformat(state["last_day"]) if state.get("last_day") else None
    for day in sorted(d for d in drift if last_day is None or d > last_day):
        serving = _serving(champions, day)
        if serving is None:                  # before the first champion: nothing to judge
            state["last_day"] = day.isoformat()
            continue
        version = serving[0]
        score_version = drift[day][1]
        if score_version != version:
            break                            # scored against an older champion: wait
        labelled = day in drop and drop[day][1] == version
        if not labelled and day + dt.timedelta(days=LABELS_GRACE_DAYS) not in drift:
            break                            # its labels are still to come
        history = list(day_range(
            day - dt.timedelta(days=POLICY.history + POLICY.performance_smoothing - 2),
            day + dt.timedelta(days=1)))
        drift_series = [drift[d][0] if d in drift and _serving(champions, d) is not None
                        and drift[d][1] == _serving(champions, d)[0] else math.nan
                        for d in history]
        drop_series = [drop[d][0] if d in drop and drop[d][0] is not None else math.nan
                       for d in history]
        target = day + dt.timedelta(days=1)
        decision = policy.decide(
            drift_series, drop_series, thresholds, POLICY,
            days_since_retrain=(target - last_retrain).days if last_retrain else None,
            champion_age_days=(target - _last_confirmed(champions, day)).days)
        state["last_day"] = day.isoformat()
        if decision.suppressed_by_cooldown:
            context.log.info(f"{day}: {'; '.join(decision.reasons)} — within the cooldown")
        if decision.retrain and _valid(target):
            return request(target, decision.kinds, decision.reasons, decision.lead_days)
    return dg.SensorResult(run_requests=[], cursor=json.dumps(state))


@dg.sensor(
    name="rescore_sensor",
    target=SCORING,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Re-scores days that were scored before the champion serving them was decided "
                "(a catch-up), so the retrain sensor judges them against that champion.",
)
def rescore_sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    instance = context.instance
    champions = _champions(instance)
    drift = _metadata_by_day(instance, feature_drift, "scores_by_day")
    days = _to_rescore(instance, champions, drift) if champions else []
    if not days:
        return dg.SkipReason("every scored day is scored against the champion serving it")
    request = rescore_request(days, _serving(champions, days[-1])[0])
    context.log.info(f"re-scoring {days[0]} .. {days[-1]}: {request.tags[REASONS_TAG]}")
    return request        # its run key makes a repeated tick harmless


@dg.schedule(
    name="weekly_retrain",
    cron_schedule="0 3 * * 1",
    target=RETRAIN,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every Monday: retrain for the day after the latest day with features.",
)
def weekly_retrain(context: dg.ScheduleEvaluationContext):
    days = [dt.date.fromisoformat(k) for k in
            context.instance.get_materialized_partitions(flight_features.key)]
    if not days:
        return dg.SkipReason("no features yet")
    target = max(days) + dt.timedelta(days=1)
    if not _valid(target):
        return dg.SkipReason(f"{target} is past the last partition")
    return retrain_request(target, ["scheduled"], ["weekly schedule"], prefix="scheduled")
