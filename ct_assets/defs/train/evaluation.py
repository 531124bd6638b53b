"""`model_evaluation`: candidate D against the champion serving D (the decision log's), on the
candidate's held-out days, which neither trained on; the gate's decision with every number."""

import dataclasses
import datetime as dt
import json
import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd

from ct_assets.core import evaluation, gate, loop, warehouse
from ct_assets.defs.common import WAREHOUSE_POOL, run_day
from ct_assets.defs.partitions import daily_partitions
from ct_assets.defs.retrain import RETRAIN
from ct_assets.defs.train import charts, data
from ct_assets.defs.train.candidate import candidate_model
from ct_assets.defs.train.common import latest_metadata, log_for, registry_failures
from ct_assets.registry import ModelRegistryResource
from ct_assets.resources import WarehouseResource

GATE_COLUMNS = {
    "ds": "DATE", "candidate_version": "VARCHAR", "champion_version": "VARCHAR",
    "promote": "BOOLEAN", "reason": "VARCHAR", "candidate_auc": "DOUBLE",
    "champion_auc": "DOUBLE", "delta_auc": "DOUBLE", "delta_low": "DOUBLE",
    "delta_high": "DOUBLE", "n": "BIGINT", "decision_json": "VARCHAR", "decided_at": "TIMESTAMP",
}
_GC = gate.GateConfig   # the defaults live in core/, once


class GateSettings(dg.Config):
    """Thresholds of the promotion gate (see `ct_assets.core.gate`). Bypassing the gate is a
    decision of its own: `ct promote --force VERSION` (a `champion_model` run)."""

    tolerance: float = _GC.tolerance
    confidence: float = _GC.confidence
    n_boot: int = _GC.n_boot
    slice_min_n: int = _GC.slice_min_n
    slice_tolerance: float = _GC.slice_tolerance
    floor_auc: float = _GC.floor_auc
    max_log_loss: float = _GC.max_log_loss
    block: str = _GC.block
    slice_veto: str = _GC.slice_veto

    def gate(self) -> gate.GateConfig:
        return _GC(**{f.name: getattr(self, f.name) for f in dataclasses.fields(_GC)
                      if f.name != "seed"})


def _charts(y, p_cand, p_champ, versions) -> dict[str, str]:
    """ROC and calibration of both models on the held-out days, as SVG (`charts.py`)."""
    models = [(p_cand, f"candidate v{versions[0]}"), (p_champ, f"champion v{versions[1]}")]
    roc, calibration = [], []
    for p, label in models:
        if p is None:
            continue
        fpr, tpr = evaluation.roc_curve(y, p)
        roc.append(charts.Line(f"{label} (AUC {evaluation.auc(y, p):.3f})", fpr, tpr))
        table = evaluation.calibration(y, p)
        calibration.append(charts.Line(label.split(" v")[0], table["predicted"],
                                       table["observed"], markers=True))
    return {
        "roc.svg": charts.unit_square_chart("ROC, held-out days", "false positive rate",
                                            "true positive rate", roc),
        "calibration.svg": charts.unit_square_chart(
            "Calibration, held-out days", "predicted delay probability", "observed delay rate",
            calibration, legend="upper left"),
    }


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
    """Candidate D against the champion serving D on the same held-out days, which neither
    trained on: AUC, log loss, Brier score and calibration, overall and per carrier and origin,
    and the gate's decision with every number it used. Logged to the candidate's MLflow run."""
    day = run_day(context)
    log = log_for(context, "model_evaluation", day)
    candidate = latest_metadata(context, candidate_model.key, day)
    cand_version = str(candidate["model_version"])
    champ_version = log.champion_to_beat(day, cand_version)
    _, holdout_days = RETRAIN.split(day)
    with warehouse_db.connect() as conn:
        holdout = data.labelled_features(conn, holdout_days[0],
                                         holdout_days[-1] + dt.timedelta(days=1))
    with registry_failures():
        champion = model_registry.load(champ_version) if champ_version else None
        inputs = loop.gate_inputs(holdout, model_registry.load(cand_version), champion, RETRAIN)
    decision = loop.gate_candidate(inputs, config.gate())
    y, p_cand, p_champ = inputs.y, inputs.p_candidate, inputs.p_champion
    cand_metrics = evaluation.metrics(y, p_cand)
    champ_metrics = evaluation.metrics(y, p_champ) if p_champ is not None else None
    numbers = json.loads(json.dumps(decision.as_dict(), default=float))
    versions = (cand_version, champ_version)
    predictions = {"candidate": p_cand} | ({"champion": p_champ} if p_champ is not None else {})
    per_slice = evaluation.slice_metrics(y, predictions, inputs.slices, min_n=50)
    summary = _summary(decision, cand_metrics, champ_metrics, versions)
    summary += "\n\n**Largest slices**\n\n" + _slice_table(per_slice)
    plots = _charts(y, p_cand, p_champ, versions)
    record = pd.DataFrame([{
        "ds": day, "candidate_version": cand_version, "champion_version": champ_version,
        "promote": decision.promote, "reason": decision.reason,
        "candidate_auc": decision.candidate_auc, "champion_auc": decision.champion_auc,
        "delta_auc": decision.delta_auc, "delta_low": decision.delta_low,
        "delta_high": decision.delta_high, "n": decision.n,
        "decision_json": json.dumps(numbers),
        "decided_at": pd.Timestamp.now("UTC").tz_localize(None)}])
    with tempfile.TemporaryDirectory() as tmp:
        files = {name: Path(tmp) / name
                 for name in [*plots, "decision.json", "slice_metrics.csv"]}
        per_slice.to_csv(files["slice_metrics.csv"], index=False)
        for name, svg in plots.items():
            files[name].write_text(svg)
        files["decision.json"].write_text(json.dumps(numbers))
        with registry_failures():
            model_registry.log_evaluation(
                str(candidate["mlflow_run_id"]),
                metrics={"gate_candidate_auc": decision.candidate_auc,
                         "gate_champion_auc": decision.champion_auc,
                         "gate_delta_low": decision.delta_low},
                tags={"gate_decision": "promote" if decision.promote else "reject",
                      "gate_champion_version": str(champ_version)},
                folder=f"evaluation/{day}", files=list(files.values()))
    with warehouse_db.connect() as conn, warehouse.transaction(conn):
        warehouse.replace_partitions(conn, "gate_decisions", record, day,
                                     day + dt.timedelta(days=1), columns=GATE_COLUMNS)
    context.log.info(f"gate for {day}: {decision.reason}")
    return dg.MaterializeResult(metadata={
        "decision": "promote" if decision.promote else "keep champion",
        "promote": bool(decision.promote),
        "reason": decision.reason,
        "summary": dg.MetadataValue.md(summary),
        "roc": dg.MetadataValue.md(charts.markdown_image(plots["roc.svg"], "ROC")),
        "calibration": dg.MetadataValue.md(
            charts.markdown_image(plots["calibration.svg"], "calibration")),
        "candidate_version": cand_version,
        "champion_version": str(champ_version or ""),
        "candidate_auc": round(decision.candidate_auc, 4),
        "champion_auc": None if decision.champion_auc is None
        else round(decision.champion_auc, 6),
        "auc_gain": None if decision.champion_auc is None
        else decision.candidate_auc - decision.champion_auc,
        "delta_auc_interval": (f"[{decision.delta_low:+.4f}, {decision.delta_high:+.4f}]"
                               if decision.delta_low is not None else "no champion"),
        "decision_numbers": dg.MetadataValue.json(numbers),
        "mlflow_run": dg.MetadataValue.url(
            model_registry.run_url(str(candidate["mlflow_run_id"]))),
    })
