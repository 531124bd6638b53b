"""Train: candidate models, their evaluation against the champion, and the champion itself.

Partition D is "the model that serves day D": `candidate_model` D trains as of the start of D
on the window before it, `model_evaluation` D compares it with the current champion on held-out
days neither trained on, and `champion_model` D is whichever of the two serves D.
"""

import base64
import contextlib
import dataclasses
import datetime as dt
import io
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd

from ct_assets.core import evaluation, features, gate, training, warehouse
from ct_assets.core.days import day_range
from ct_assets.defs.common import WAREHOUSE_POOL, run_day
from ct_assets.defs.features.assets import flight_features, flight_labels
from ct_assets.defs.monitor import reference
from ct_assets.defs.partitions import daily_partitions
from ct_assets.defs.retrain import RETRAIN
from ct_assets.defs.train import data
from ct_assets.registry import ModelRegistryResource, RegistryUnavailable, code_version
from ct_assets.resources import ProfileStoreResource, WarehouseResource
from ct_assets.sources.nycflights13 import AVAILABILITY

GATE_COLUMNS = {
    "ds": "DATE", "candidate_version": "VARCHAR", "champion_version": "VARCHAR",
    "promote": "BOOLEAN", "forced": "BOOLEAN", "reason": "VARCHAR", "candidate_auc": "DOUBLE",
    "champion_auc": "DOUBLE", "delta_auc": "DOUBLE", "delta_low": "DOUBLE",
    "delta_high": "DOUBLE", "n": "BIGINT", "decision_json": "VARCHAR", "decided_at": "TIMESTAMP",
}
CHAMPION_COLUMNS = {"ds": "DATE", "version": "VARCHAR", "previous_version": "VARCHAR",
                    "changed": "BOOLEAN", "reason": "VARCHAR", "decided_at": "TIMESTAMP"}


_TP, _GC = training.TrainParams, gate.GateConfig   # the defaults live in core/, once


class TrainConfig(dg.Config):
    """How `candidate_model` fits (the window is the project's `RetrainSpec`, `defs/retrain.py`).
    Same inputs + same config + same code = same model."""

    num_leaves: int = _TP.num_leaves
    learning_rate: float = _TP.learning_rate
    n_estimators: int = _TP.n_estimators
    min_child_samples: int = _TP.min_child_samples
    colsample_bytree: float = _TP.colsample_bytree
    reg_lambda: float = _TP.reg_lambda
    seed: int = _TP.seed

    def params(self) -> training.TrainParams:
        return _TP(**{f.name: getattr(self, f.name) for f in dataclasses.fields(_TP)})


class GateSettings(dg.Config):
    """Thresholds of the promotion gate (see `ct_assets.core.gate`) and the manual override."""

    tolerance: float = _GC.tolerance
    confidence: float = _GC.confidence
    n_boot: int = _GC.n_boot
    slice_min_n: int = _GC.slice_min_n
    slice_tolerance: float = _GC.slice_tolerance
    floor_auc: float = _GC.floor_auc
    max_log_loss: float = _GC.max_log_loss
    force_promotion: bool = False

    def gate(self) -> gate.GateConfig:
        return _GC(**{f.name: getattr(self, f.name) for f in dataclasses.fields(_GC)
                      if f.name != "seed"})


@contextlib.contextmanager
def registry_failures() -> Iterator[None]:
    """An unreachable or read-only MLflow store fails the step with the store's own words."""
    try:
        yield
    except RegistryUnavailable as exc:
        raise dg.Failure(description=str(exc)) from exc


def _window_mapping() -> dg.TimeWindowPartitionMapping:
    """Partition D of the train stage reads the labelled days of D's window (`RETRAIN`)."""
    start, end = RETRAIN.partition_offsets()
    return dg.TimeWindowPartitionMapping(start_offset=start, end_offset=end,
                                         allow_nonexistent_upstream_partitions=True)


def _latest_metadata(context, asset_key: dg.AssetKey, day: dt.date) -> dict:
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[day.isoformat()]), limit=1)
    if not records.records:
        raise dg.Failure(f"{asset_key.to_user_string()} has no materialization for {day}")
    return {k: v.value for k, v in records.records[0].asset_materialization.metadata.items()}


def _input_data_versions(context, start: dt.date, end: dt.date) -> dict[str, str]:
    keys = [d.isoformat() for d in day_range(start, end)]
    versions = {}
    for asset in (flight_features, flight_labels):
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset.key, asset_partitions=keys), limit=len(keys) * 4)
        for record in records.records:
            mat = record.asset_materialization
            slot = f"{asset.key.to_user_string()}/{mat.partition}"
            versions.setdefault(slot, (mat.tags or {}).get("dagster/data_version", record.run_id))
    return dict(sorted(versions.items()))


@dg.asset(
    group_name="train",
    partitions_def=daily_partitions,
    pool=WAREHOUSE_POOL,
    deps=[dg.AssetDep(asset, partition_mapping=_window_mapping())
          for asset in (flight_features, flight_labels)],
    kinds={"lightgbm", "mlflow"},
)
def candidate_model(context: dg.AssetExecutionContext, config: TrainConfig,
                    warehouse_db: WarehouseResource, profile_store: ProfileStoreResource,
                    model_registry: ModelRegistryResource) -> dg.MaterializeResult:
    """A LightGBM model trained as of the start of day D on the labelled features of the
    window before D, minus a held-out block of its most recent days kept for the gate. An MLflow
    run and a registered version of `flight_delay`; the same inputs, config and code reuse the
    version instead of registering a duplicate."""
    day = run_day(context)
    start, end = RETRAIN.window(day)
    train_days, holdout_days = RETRAIN.split(day)
    with warehouse_db.connect() as conn:
        try:
            data.check_window(conn, start, end)
        except data.WindowNotReady as exc:
            raise dg.Failure(f"candidate_model {day}: refusing to train on {exc}") from exc
        frame = data.labelled_features(conn, start, end)
        history_start = features.history_bounds(start, end, AVAILABILITY)["outcomes"][0]
        manifest = data.input_manifest(conn, history_start, end)
    train = frame[frame["ds"].isin(train_days)]
    holdout = frame[frame["ds"].isin(holdout_days) & frame["is_delayed"].notna()]
    params = {**config.params().__dict__, "window_days": RETRAIN.window_days,
              "holdout_days": RETRAIN.holdout_days, "label_lag_days": RETRAIN.label_lag_days}
    code = code_version()
    fingerprint = data.fingerprint(frame, params, code)
    with registry_failures():
        existing = model_registry.find_version(fingerprint=fingerprint)
    if existing is not None:
        context.log.info(f"same inputs, config and code as version {existing.version}: reused")
        run_id, version = existing.tags.get("run_id", ""), str(existing.version)
        holdout_auc = fit_cpu_s = None
    else:
        began = time.process_time()
        model = training.fit(train, config.params())
        fit_cpu_s = time.process_time() - began
        y = holdout["is_delayed"].astype(bool).to_numpy()
        p_holdout = model.predict_proba(holdout)
        scores = evaluation.metrics(y, p_holdout)
        scores["daily_auc"] = evaluation.mean_daily_auc(y, p_holdout, holdout["ds"].to_numpy())
        holdout_auc = scores["auc"]
        with warehouse_db.connect() as conn:
            drift_reference = reference.build(reference.daily_feature_views(
                conn, profile_store, train_days, context.log))
        tags = {
            "partition": day.isoformat(), "dagster_run_id": context.run.run_id,
            "code_version": code, "fingerprint": fingerprint,
            "window_start": str(train_days[0]), "window_end": str(holdout_days[-1]),
            "holdout_start": str(holdout_days[0]), "holdout_end": str(holdout_days[-1]),
        }
        with tempfile.TemporaryDirectory() as tmp:
            artifacts = {reference.FOLDER: drift_reference.write(Path(tmp) / reference.FOLDER)}
            inputs = Path(tmp) / "inputs.json"
            inputs.write_text(json.dumps({
                "train_days": [str(d) for d in train_days],
                "holdout_days": [str(d) for d in holdout_days],
                "data_versions": _input_data_versions(context, start, end),
                "landed_files": manifest,
            }, indent=1))
            artifacts["lineage"] = inputs
            with registry_failures():
                run_id, version = model_registry.log_candidate(
                    model, run_name=f"candidate {day}", params=params,
                    metrics={f"holdout_{k}": v for k, v in scores.items()}
                    | {"train_rows": model.trained_on["rows"], "fit_cpu_s": fit_cpu_s},
                    tags=tags, example=holdout.head(50), artifacts=artifacts)
    metadata = {
        "model_version": version,
        "mlflow_run_id": run_id,
        "mlflow_run": dg.MetadataValue.url(model_registry.run_url(run_id)) if run_id else "",
        "train_days": f"{train_days[0]} .. {train_days[-1]}",
        "holdout_days": f"{holdout_days[0]} .. {holdout_days[-1]}",
        "train_rows": int(train["is_delayed"].notna().sum()),
        "fingerprint": fingerprint[:16],
        "code_version": code,
    }
    if holdout_auc is not None:
        metadata["holdout_auc"] = round(holdout_auc, 4)
        metadata["holdout_daily_auc"] = round(scores["daily_auc"], 4)
        metadata["fit_cpu_s"] = round(fit_cpu_s, 2)
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(fingerprint[:16]))


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return buffer.getvalue()


def _png_markdown(raw: bytes) -> str:
    return f"![plot](data:image/png;base64,{base64.b64encode(raw).decode()})"


def _plots(y, p_cand, p_champ, versions) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    fig, ax = plt.subplots(figsize=(4.5, 4))
    for p, label in ((p_cand, f"candidate v{versions[0]}"), (p_champ, f"champion v{versions[1]}")):
        if p is not None:
            fpr, tpr = evaluation.roc_curve(y, p)
            ax.plot(fpr, tpr, label=f"{label} (AUC {evaluation.auc(y, p):.3f})")
    ax.plot([0, 1], [0, 1], ls=":", c="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, held-out days")
    ax.legend(loc="lower right", fontsize=8)
    out["roc.png"] = _png(fig)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    for p, label in ((p_cand, "candidate"), (p_champ, "champion")):
        if p is not None:
            table = evaluation.calibration(y, p)
            ax.plot(table["predicted"], table["observed"], marker="o", label=label)
    ax.plot([0, 1], [0, 1], ls=":", c="grey")
    ax.set(xlabel="predicted delay probability", ylabel="observed delay rate",
           title="Calibration, held-out days")
    ax.legend(fontsize=8)
    out["calibration.png"] = _png(fig)
    plt.close(fig)
    return out


def _slice_table(table: pd.DataFrame, top: int = 8) -> str:
    if table.empty:
        return ""
    shown = table.head(top)
    cols = ["slice", "n"] + [c for c in shown.columns if c.endswith(("_auc", "_log_loss"))]
    return shown[cols].to_markdown(index=False, floatfmt=".4f")


def _summary(decision: gate.GateDecision, cand: dict, champ: dict | None, versions) -> str:
    verdict = "**PROMOTE**" if decision.promote else "**KEEP CHAMPION**"
    lines = [f"{verdict}: {decision.reason}", "",
             f"| metric | candidate v{versions[0]} | champion v{versions[1] or '–'} |",
             "|---|---:|---:|"]
    for key in ("auc", "log_loss", "brier", "ece"):
        other = f"{champ[key]:.4f}" if champ else "–"
        lines.append(f"| {key} | {cand[key]:.4f} | {other} |")
    lines.append(f"| held-out flights | {decision.n} | {decision.n if champ else '–'} |")
    if decision.slice_deltas:
        worst = sorted(decision.slice_deltas.items(), key=lambda kv: kv[1])[:6]
        lines += ["", "| slice | AUC change |", "|---|---:|"]
        lines += [f"| {k} | {v:+.4f}{' ⚠' if k in decision.failed_slices else ''} |"
                  for k, v in worst]
    return "\n".join(lines)


@dg.asset(
    group_name="train",
    partitions_def=daily_partitions,
    pool=WAREHOUSE_POOL,
    deps=[candidate_model],
    kinds={"mlflow"},
)
def model_evaluation(context: dg.AssetExecutionContext, config: GateSettings,
                     warehouse_db: WarehouseResource,
                     model_registry: ModelRegistryResource) -> dg.MaterializeResult:
    """Candidate D against the current champion on the same held-out days, which neither
    trained on: AUC, log loss, Brier score and calibration, overall and per carrier and origin,
    and the gate's decision with every number it used. Logged to the candidate's MLflow run."""
    day = run_day(context)
    candidate = _latest_metadata(context, candidate_model.key, day)
    cand_version = str(candidate["model_version"])
    with registry_failures():
        champ_version = model_registry.alias_version("champion")
        if champ_version == cand_version:
            champ_version = model_registry.alias_version("previous")
    first, last = (dt.date.fromisoformat(s.strip())
                   for s in str(candidate["holdout_days"]).split(".."))
    with warehouse_db.connect() as conn:
        holdout = data.labelled_features(conn, first, last + dt.timedelta(days=1))
    holdout = holdout[holdout["is_delayed"].notna()]
    y = holdout["is_delayed"].astype(bool).to_numpy()
    with registry_failures():
        p_cand = model_registry.load(cand_version).predict_proba(holdout)
        p_champ = (model_registry.load(champ_version).predict_proba(holdout)
                   if champ_version else None)
    slices = {"carrier": holdout["carrier"].to_numpy(), "origin": holdout["origin"].to_numpy()}
    decision = gate.decide(y, p_cand, p_champ, slices, config.gate(),
                           force=config.force_promotion)
    cand_metrics = evaluation.metrics(y, p_cand)
    champ_metrics = evaluation.metrics(y, p_champ) if p_champ is not None else None
    numbers = json.loads(json.dumps(decision.as_dict(), default=float))
    versions = (cand_version, champ_version)
    predictions = {"candidate": p_cand} | ({"champion": p_champ} if p_champ is not None else {})
    per_slice = evaluation.slice_metrics(y, predictions, slices, min_n=50)
    summary = _summary(decision, cand_metrics, champ_metrics, versions)
    summary += "\n\n**Largest slices**\n\n" + _slice_table(per_slice)
    plots = _plots(y, p_cand, p_champ, versions)
    record = pd.DataFrame([{
        "ds": day, "candidate_version": cand_version, "champion_version": champ_version,
        "promote": decision.promote, "forced": decision.forced, "reason": decision.reason,
        "candidate_auc": decision.candidate_auc, "champion_auc": decision.champion_auc,
        "delta_auc": decision.delta_auc, "delta_low": decision.delta_low,
        "delta_high": decision.delta_high, "n": decision.n,
        "decision_json": json.dumps(numbers),
        "decided_at": pd.Timestamp.now("UTC").tz_localize(None)}])
    with tempfile.TemporaryDirectory() as tmp:
        files = {name: Path(tmp) / name
                 for name in [*plots, "decision.json", "slice_metrics.csv"]}
        per_slice.to_csv(files["slice_metrics.csv"], index=False)
        for name, raw in plots.items():
            files[name].write_bytes(raw)
        files["decision.json"].write_text(json.dumps(numbers))
        with registry_failures():
            model_registry.log_evaluation(
                str(candidate["mlflow_run_id"]),
                metrics={"gate_candidate_auc": decision.candidate_auc,
                         "gate_champion_auc": decision.champion_auc,
                         "gate_delta_low": decision.delta_low},
                tags={"gate_decision": "promote" if decision.promote else "reject",
                      "gate_forced": str(decision.forced).lower(),
                      "gate_champion_version": str(champ_version)},
                folder=f"evaluation/{day}", files=list(files.values()))
    with warehouse_db.connect() as conn, warehouse.transaction(conn):
        warehouse.replace_partitions(conn, "gate_decisions", record, day,
                                     day + dt.timedelta(days=1), columns=GATE_COLUMNS)
    context.log.info(f"gate for {day}: {decision.reason}")
    images = {name: _png_markdown(raw) for name, raw in plots.items()}
    return dg.MaterializeResult(metadata={
        "decision": "promote" if decision.promote else "keep champion",
        "summary": dg.MetadataValue.md(summary),
        "roc": dg.MetadataValue.md(images["roc.png"]),
        "calibration": dg.MetadataValue.md(images["calibration.png"]),
        "candidate_version": cand_version,
        "champion_version": str(champ_version),
        "candidate_auc": round(decision.candidate_auc, 4),
        "delta_auc_interval": (f"[{decision.delta_low:+.4f}, {decision.delta_high:+.4f}]"
                               if decision.delta_low is not None else "no champion"),
        "decision_numbers": dg.MetadataValue.json(numbers),
        "mlflow_run": dg.MetadataValue.url(
            model_registry.run_url(str(candidate["mlflow_run_id"]))),
    })


# A champion that has not been re-evaluated for this long is stale (the UI shows it; the retrain
# sensor requests a retrain, see `core.policy.PolicyConfig.max_age_days`).
CHAMPION_MAX_AGE_DAYS = 14


@dg.asset(
    group_name="train",
    partitions_def=daily_partitions,
    pool=WAREHOUSE_POOL,
    deps=[model_evaluation],
    kinds={"mlflow"},
    freshness_policy=dg.FreshnessPolicy.time_window(
        fail_window=dt.timedelta(days=CHAMPION_MAX_AGE_DAYS)),
)
def champion_model(context: dg.AssetExecutionContext, warehouse_db: WarehouseResource,
                   model_registry: ModelRegistryResource) -> dg.MaterializeResult:
    """The model that serves day D: candidate D if it passed the gate, otherwise the previous
    champion. The registry alias `champion` points at it; the version it replaced keeps
    `previous`."""
    day = run_day(context)
    with warehouse_db.connect() as conn:
        rows = conn.execute("SELECT candidate_version, promote, forced, reason FROM "
                            "gate_decisions WHERE ds = ?", [day]).fetchall()
    if not rows:
        raise dg.Failure(f"no gate decision for {day}: materialize model_evaluation first")
    cand_version, promote, forced, reason = rows[0]
    with registry_failures():
        before = model_registry.alias_version("champion")
        if promote:
            model_registry.promote(cand_version, forced=bool(forced), reason=reason,
                                   partition=day.isoformat())
        serving = model_registry.alias_version("champion")
    if serving is None:
        raise dg.Failure(f"no champion serves {day}: the first candidate did not pass the gate "
                         f"({reason})")
    record = pd.DataFrame([{"ds": day, "version": serving, "previous_version": before,
                            "changed": serving != before, "reason": reason,
                            "decided_at": pd.Timestamp.now("UTC").tz_localize(None)}])
    with warehouse_db.connect() as conn, warehouse.transaction(conn):
        warehouse.replace_partitions(conn, "champion_history", record, day,
                                     day + dt.timedelta(days=1), columns=CHAMPION_COLUMNS)
    version = model_registry.client().get_model_version(model_registry.model_name, serving)
    context.log.info(f"{day} is served by version {serving}"
                     + (f" (replacing {before})" if serving != before else ""))
    return dg.MaterializeResult(metadata={
        "serving_version": serving,
        "serving_since": version.tags.get("promoted_for", day.isoformat()),
        "replaced_version": str(before),
        "changed": serving != before,
        "reason": reason,
        "mlflow_run": dg.MetadataValue.url(model_registry.run_url(version.tags["run_id"])),
    })

