"""`pipeline.png`: for each bench, where the wall time and the CPU time went at each scale,
and the time in the steps of each asset, stacked by category."""

from collections import defaultdict
from pathlib import Path

import numpy as np

from ct_assets.bench import reporting
from ct_assets.bench.pipeline.analysis import CATEGORIES, CPU_CATEGORIES

PLOT_COLOURS = {"core": "#2b6cb0", "registry": "#805ad5", "step_other": "#ed8936",
                "step_rest": "#ed8936", "step_startup": "#a0aec0", "between_steps": "#e2e8f0",
                "driver": "#e53e3e", "other": "#718096"}
PLOT_LABELS = {"core": "core/", "registry": "MLflow store", "step_other": "rest of step",
               "step_rest": "rest of step", "step_startup": "step process start-up",
               "between_steps": "between steps", "driver": "driver (run orchestration)",
               "other": "rest of the tree"}


def plot(doc: dict, path: Path) -> Path:
    """For each bench: where the wall time and the CPU time went at each scale (left) and, per
    asset, the time in its steps at each scale (right), stacked by category."""
    plt = reporting.pyplot()
    benches = list(doc["benches"].values())
    rows = [max(len(b["scales"]) * len(next(iter(b["scales"].values()))["stages"]), 8)
            for b in benches]
    fig, axes = plt.subplots(len(benches), 2, squeeze=False,
                             figsize=(14, sum(1.2 + 0.2 * r for r in rows)),
                             gridspec_kw={"height_ratios": rows, "width_ratios": [1, 1.5]})
    for (left, right), result in zip(axes, benches, strict=True):
        scales = sorted(result["scales"], key=int)
        bars = [(k, kind) for k in scales for kind in ("wall", "CPU")]
        y = np.arange(len(bars))[::-1] + np.repeat(np.arange(len(scales))[::-1] * 0.6, 2)
        seen = set()
        for yi, (k, kind) in zip(y, bars, strict=True):
            s = result["scales"][k]
            split, cats = ((s["split_s"], CATEGORIES) if kind == "wall"
                           else (s.get("cpu_split_s", {}), CPU_CATEGORIES))
            base = 0.0
            for cat in cats:
                value = split.get(cat, 0.0)
                label = None if PLOT_LABELS[cat] in seen else PLOT_LABELS[cat]
                seen.add(PLOT_LABELS[cat])
                left.barh(yi, value, left=base, color=PLOT_COLOURS[cat], label=label,
                          edgecolor="white", linewidth=0.5, height=0.8)
                base += value
            share = s["share_outside_core"] if kind == "wall" else s.get(
                "cpu_share_outside_core", float("nan"))
            left.text(base, yi, f" {base:,.0f} s, {share:.0%} outside core", va="center",
                      fontsize=7)
        left.set_yticks(y, [f"{k}x {kind}" for k, kind in bars], fontsize=8)
        left.set_xlim(0, left.get_xlim()[1] * 1.6)    # room for the labels
        left.set_xlabel("seconds: wall time, and CPU time of the process tree")
        left.set_title(f"{result['label']}: where the time went", fontsize=10)
        names = list(result["scales"][scales[0]]["stages"])
        labels, parts = [], defaultdict(list)
        for name in names:
            for k in scales:
                st = result["scales"][k]["stages"].get(name, {})
                core, reg = st.get("core_s", 0.0), st.get("registry_s", 0.0)
                labels.append(f"{name} {k}x")
                parts["core"].append(core)
                parts["registry"].append(reg)
                parts["step_other"].append(max(st.get("step_s", 0.0) - core - reg, 0.0))
                parts["step_startup"].append(st.get("startup_s", 0.0))
        y = np.arange(len(labels))[::-1] + np.repeat(np.arange(len(names))[::-1] * 0.5,
                                                     len(scales))
        base = np.zeros(len(labels))
        for cat in ("core", "registry", "step_other", "step_startup"):
            right.barh(y, parts[cat], left=base, color=PLOT_COLOURS[cat],
                       label=PLOT_LABELS[cat], height=0.85)
            base += np.array(parts[cat])
        right.set_yticks(y, labels, fontsize=7)
        right.set_xlabel("seconds in the steps of each asset (summed over the backfill)")
        right.set_title(f"{result['label']}: time per asset, "
                        + " vs ".join(f"{k}x" for k in scales), fontsize=10)
        right.legend(fontsize=7, loc="lower right")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return reporting.save_png(fig, path, dpi=100)
