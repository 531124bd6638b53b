"""Lineage and experiment history read back from the registry, the warehouse and the Dagster
instance, for `ct lineage` and `ct experiments`."""

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ct_assets.core import landing
from ct_assets.registry import ModelRegistryResource


@dataclass
class LineageLink:
    name: str
    value: str
    ok: bool = True
    children: list["LineageLink"] = field(default_factory=list)


def _decision_log(dagster_home: Path | None):
    if dagster_home is None or not (dagster_home / "dagster.yaml").exists():
        return None
    import dagster as dg

    from ct_assets.defs import state

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        return state.decision_log(instance)


def model_lineage(registry: ModelRegistryResource, ref: str,
                  dagster_home: Path | None) -> LineageLink:
    """decision -> version -> MLflow run -> Dagster run and partition -> window -> inputs ->
    landed files. `champion` and `previous` are read from the decision log."""
    log = _decision_log(dagster_home)
    if ref.isdigit():
        version = ref
    elif log is not None and ref in ("champion", "previous"):
        version = log.current() if ref == "champion" else log.previous()
    else:
        version = registry.alias_version(ref)
    if version is None:
        return LineageLink("model", f"no version is {ref!r} (decision log: "
                                    f"{'none' if log is None else len(log)} decisions)", ok=False)
    client = registry.client()
    mv = client.get_model_version(registry.model_name, version)
    aliases = ", ".join(mv.aliases) or "none"
    root = LineageLink("model", f"{registry.model_name} v{version} (registry aliases: "
                                f"{aliases})")
    if log is not None:
        served = [d for d in log.decisions if d.version == version]
        decisions = LineageLink("decisions", f"{len(served)} in the decision log naming it",
                                ok=bool(served) or ref.isdigit())
        decisions.children = [LineageLink(
            f"from {d.effective_from}", f"{d.kind} by {d.decided_by}: {d.reason}")
            for d in served]
        root.children.append(decisions)
    run_id = dict(mv.tags).get("run_id")
    run = client.get_run(run_id) if run_id else None
    run_link = LineageLink("mlflow run", f"{run_id} {registry.run_url(run_id)}" if run else
                           "missing", ok=run is not None)
    root.children.append(run_link)
    if run is None:
        return root
    run_tags = run.data.tags
    dagster_run = run_tags.get("dagster_run_id", "")
    exists = _dagster_run_exists(dagster_home, dagster_run)
    run_link.children.append(LineageLink(
        "dagster run", f"{dagster_run} partition {run_tags.get('partition')}"
        + ("" if exists is None else " (found in the instance)" if exists else
           " (not in this Dagster instance)"), ok=bool(dagster_run) and exists is not False))
    run_link.children.append(LineageLink("code", run_tags.get("code_version", "unknown"),
                                         ok="code_version" in run_tags))
    run_link.children.append(LineageLink(
        "window", f"{run.data.params.get('window_days')} days {run_tags.get('window_start')} .. "
                  f"{run_tags.get('window_end')}; trained on all but the held-out "
                  f"{run_tags.get('holdout_start')} .. {run_tags.get('holdout_end')}"))
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, "lineage/inputs.json", tmp)
            inputs = json.loads(Path(path).read_text())
        except Exception as exc:  # noqa: BLE001 - report the broken link, keep going
            run_link.children.append(LineageLink("inputs", f"unreadable: {exc}", ok=False))
            return root
    versions = LineageLink("input data versions", f"{len(inputs['data_versions'])} partitions",
                           ok=bool(inputs["data_versions"]))
    versions.children = [LineageLink(k, v) for k, v in inputs["data_versions"].items()]
    files = LineageLink("landed files", f"{len(inputs['landed_files'])} files")
    for item in inputs["landed_files"]:
        path = Path(item["path"])
        same = path.exists() and landing.checksum(path) == item["sha256"]
        files.children.append(LineageLink(
            f"{item['table']} {item['ds']}", f"{path} sha256 {item['sha256'][:16]} "
            + ("(unchanged)" if same else "(changed or gone)"), ok=same))
    files.ok = bool(files.children) and all(c.ok for c in files.children)
    run_link.children += [versions, files]
    return root


def _dagster_run_exists(home: Path | None, run_id: str) -> bool | None:
    if home is None or not (home / "dagster.yaml").exists() or not run_id:
        return None
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        return instance.get_run_by_id(run_id) is not None


def broken_links(link: LineageLink) -> list[str]:
    own = [] if link.ok else [f"{link.name}: {link.value}"]
    return own + [b for child in link.children for b in broken_links(child)]


def experiments(registry: ModelRegistryResource) -> pd.DataFrame:
    """Every training run: partition, window, holdout metrics and the gate's decision."""
    client = registry.client()
    runs = client.search_runs([registry.experiment_id()], max_results=5000,
                              order_by=["tags.partition ASC"])
    rows = []
    for run in runs:
        tags, metrics = run.data.tags, run.data.metrics
        rows.append({
            "partition": tags.get("partition"),
            "window": f"{tags.get('window_start')} .. {tags.get('window_end')}",
            "holdout_auc": metrics.get("holdout_auc"),
            "champion_auc": metrics.get("gate_champion_auc"),
            "delta_low": metrics.get("gate_delta_low"),
            "decision": tags.get("gate_decision", "not evaluated"),
            "forced": tags.get("gate_forced", ""),
            "run_id": run.info.run_id,
        })
    return pd.DataFrame(rows)


def plot_experiments(frame: pd.DataFrame, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 4))
    days = pd.to_datetime(frame["partition"])
    ax.plot(days, frame["holdout_auc"], marker="o", label="candidate (held-out AUC)")
    ax.plot(days, frame["champion_auc"], marker="s", label="champion on the same days")
    promoted = frame["decision"] == "promote"
    ax.scatter(days[promoted], frame.loc[promoted, "holdout_auc"], s=120, facecolors="none",
               edgecolors="green", label="promoted")
    ax.set(xlabel="partition (day served)", ylabel="AUC", title="Candidates vs champion")
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
