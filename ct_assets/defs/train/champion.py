"""`champion_model`: the one place a decision about who serves is made and recorded.

Partition D is a decision taking effect from day D, appended to the decision log (this
asset's materializations, `core/serving.py`): the gate's verdict on candidate D (run after
`model_evaluation`), or a forced promotion or rollback asked for with `ct promote --force` /
`ct rollback` (the same asset, with `ChampionConfig`, visible as runs in the UI). The log is
recorded first; the registry aliases then mirror it.
"""

import datetime as dt
import getpass

import dagster as dg

from ct_assets.core import policy
from ct_assets.core.serving import Decision
from ct_assets.defs import state
from ct_assets.defs.partitions import daily_partitions
from ct_assets.defs.tags import REASONS_TAG, TRIGGER_TAG
from ct_assets.defs.train.common import latest_metadata, log_for, registry_failures
from ct_assets.defs.train.evaluation import model_evaluation
from ct_assets.registry import ModelRegistryResource

# A champion not confirmed for this long is stale: the UI shows it, and the retrain walk asks
# for a retrain (`core.policy.PolicyConfig.max_age_days`, the one place it is set).
CHAMPION_MAX_AGE_DAYS = policy.PolicyConfig().max_age_days


class ChampionConfig(dg.Config):
    """`gate` (default): decide from `model_evaluation` D. `force`: make `version` the champion
    from D on, bypassing the gate. `rollback`: restore the version that served before the
    current champion. `decided_by` says who asked (the `ct` commands fill it in)."""

    action: str = "gate"
    version: str = ""
    decided_by: str = ""
    reason: str = ""


def _gate_decision(context, day: dt.date, log) -> Decision:
    verdict = latest_metadata(context, model_evaluation.key, day)
    candidate = str(verdict["candidate_version"])
    champion = log.version_serving(day)
    tags = context.run.tags
    kinds = tags.get(TRIGGER_TAG)
    by = (f"weekly_retrain schedule ({tags.get(REASONS_TAG, '')})" if kinds == "scheduled"
          else f"retrain_sensor ({kinds}: {tags.get(REASONS_TAG, '')})" if kinds
          else f"manual run {context.run.run_id[:8]}")
    version = candidate if verdict["promote"] else champion
    if version is None:
        raise dg.Failure(f"no champion serves {day}: the first candidate did not pass the gate "
                         f"({verdict['reason']})")
    return Decision(effective_from=day, version=version, kind="gate", decided_by=by,
                    reason=str(verdict["reason"]), candidate=candidate, replaced=champion)


def _manual_decision(config: ChampionConfig, day: dt.date, log,
                     registry: ModelRegistryResource) -> Decision:
    by = config.decided_by or f"{getpass.getuser()} (run config)"
    serving = log.version_serving(day)
    if config.action == "force":
        with registry_failures():
            usable = registry.version_exists(config.version)
        if not usable:
            raise dg.Failure(f"cannot force version {config.version!r}: it is not a complete "
                             f"registered version of {registry.model_name}")
        return Decision(effective_from=day, version=config.version, kind="forced",
                        decided_by=by, reason=config.reason or "forced promotion (gate bypassed)",
                        replaced=serving)
    target = log.rollback_target()
    if target is None:
        raise dg.Failure("nothing to roll back to: no other version has served")
    return Decision(effective_from=day, version=target, kind="rollback", decided_by=by,
                    reason=config.reason or f"rollback from version {serving}", replaced=serving)


@dg.asset(
    group_name="train",
    partitions_def=daily_partitions,
    deps=[model_evaluation],
    kinds={"mlflow"},
    freshness_policy=dg.FreshnessPolicy.time_window(
        fail_window=dt.timedelta(days=CHAMPION_MAX_AGE_DAYS)),
)
def champion_model(context: dg.AssetExecutionContext, config: ChampionConfig,
                   model_registry: ModelRegistryResource):
    """The decision on who serves from day D on: candidate D if it passed the gate, otherwise
    the champion confirmed against it; or a forced promotion or a rollback (`ct promote
    --force`, `ct rollback`). Each is one entry of the decision log with who decided and why;
    the registry aliases `champion` and `previous` mirror the log."""
    day = dt.date.fromisoformat(context.partition_key)
    if config.action not in ("gate", "force", "rollback"):
        raise dg.Failure(f"unknown champion action {config.action!r}: gate, force or rollback")
    log = log_for(context, "champion_model", day)
    with registry_failures():
        for moved in state.reconcile_aliases(model_registry, log):
            context.log.warning(f"registry alias {moved}: it had drifted from the decision "
                                "log (a crash between the two writes?); reconciled")
    decision = (_gate_decision(context, day, log) if config.action == "gate"
                else _manual_decision(config, day, log, model_registry))
    context.log.info(f"from {day}: version {decision.version} ({decision.kind}, "
                     f"{decision.decided_by}): {decision.reason}")
    with registry_failures():
        run_id = model_registry.client().get_model_version(
            model_registry.model_name, decision.version).tags.get("run_id", "")
    yield dg.MaterializeResult(metadata={
        **decision.as_metadata(),
        "changed": decision.changed,
        "mlflow_run": dg.MetadataValue.url(model_registry.run_url(run_id)) if run_id else "",
    })
    # The log holds the decision now; the aliases follow it (a crash before this line is
    # healed by the next run's reconciliation).
    with registry_failures():
        for moved in state.reconcile_aliases(model_registry, log.append(decision)):
            context.log.info(f"registry alias {moved}")
