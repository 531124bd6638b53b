"""`ct promote --force`, `ct rollback` and `ct decisions`: champion decisions made by people.

A forced promotion or a rollback is a run of `champion_model` (job `champion_decision`) on
the project's Dagster instance, so it goes through the same code path as a gate decision,
lands in the same decision log and shows as a run in the UI. It takes effect from the first
day not yet scored (never before the newest decision): the next day scored uses it.
"""

import datetime as dt
import getpass
import os
from pathlib import Path

from ct_assets.core.serving import DecisionLog
from ct_assets.settings import Settings


class NoInstance(RuntimeError):
    """There is no Dagster instance to record a decision in."""


def instance_home(settings: Settings) -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home)
    if not (home / "dagster.yaml").exists():
        raise NoInstance(f"no Dagster instance at {home} (dagster.yaml missing): run `make dev` "
                         "first, or set DAGSTER_HOME to the project's instance")
    return home


def first_unscored_day(instance, log: DecisionLog) -> dt.date | None:
    """The first day after the newest day scored by a champion, and never before the newest
    decision; None when nothing is featurised or decided yet."""
    from ct_assets.defs import state
    from ct_assets.defs.features.assets import flight_features

    scored = [day for day, meta in state.latest_by_day(instance, state.DAILY_PREDICTIONS).items()
              if meta.get("model_version") not in (None, "", "none")]
    candidates = []
    if scored:
        candidates.append(max(scored) + dt.timedelta(days=1))
    if log.newest() is not None:
        candidates.append(log.newest().effective_from)
    if not candidates:
        featurised = instance.get_materialized_partitions(flight_features.key)
        if featurised:
            candidates.append(min(dt.date.fromisoformat(k) for k in featurised))
    return max(candidates) if candidates else None


def _open_instance():
    import dagster as dg

    return dg.DagsterInstance.from_config(str(instance_home(Settings.from_env())))


def decide(action: str, version: str = "", instance=None) -> tuple[dt.date, dict, bool, str]:
    """Run `champion_model` with the action on the project's instance (or `instance`);
    returns (the day it takes effect from, the decision's metadata, success, error)."""
    if instance is None:
        with _open_instance() as opened:
            return decide(action, version, opened)
    from ct_assets.definitions import build_defs
    from ct_assets.defs import state

    log = state.decision_log(instance)
    day = first_unscored_day(instance, log)
    if day is None:
        raise NoInstance("nothing is featurised or decided yet: land and process days first")
    who = f"{getpass.getuser()} via ct {'promote --force' if action == 'force' else action}"
    job = build_defs(Settings.from_env()).resolve_job_def("champion_decision")
    result = job.execute_in_process(
        instance=instance, partition_key=day.isoformat(), raise_on_error=False,
        run_config={"ops": {"champion_model": {"config": {
            "action": action, "version": str(version), "decided_by": who}}}})
    if not result.success:
        failure = next((e for e in result.all_events if e.event_type_value == "STEP_FAILURE"),
                       None)
        data = failure.step_failure_data if failure else None
        message = (data.user_failure_data.description if data and data.user_failure_data
                   else data.error.message if data else "the run failed")
        return day, {}, False, message
    newest = state.decision_log(instance).newest()
    return day, {**newest.as_metadata(), "run_id": result.run_id}, True, ""


def read_log() -> DecisionLog:
    from ct_assets.defs import state

    with _open_instance() as instance:
        return state.decision_log(instance)
