"""`catchup.png`: the catch-up as it happened (the runs of each kind over time, the days
featurised and judged) and where the CPU time went, against the floor."""

from pathlib import Path

from ct_assets.bench import reporting

KIND_COLOURS = {"ingest": "#718096", "automation": "#ed8936", "retrain": "#2b6cb0",
                "rescore": "#805ad5", "other": "#a0aec0"}


def plot(result: dict, path: Path) -> Path:
    plt = reporting.pyplot()
    fig, (timeline, cpu) = plt.subplots(2, 1, figsize=(11, 7.5),
                                        gridspec_kw={"height_ratios": [2.2, 1]})
    kinds = list(KIND_COLOURS)
    for kind, _created, start, end, _label in result["run_timeline"]:
        lane = kinds.index(kind)
        timeline.barh(lane, max(end - start, 0.3), left=start, height=0.7,
                      color=KIND_COLOURS[kind])
    timeline.set_yticks(range(len(kinds)), [f"{k} runs" for k in kinds])
    timeline.set_xlabel("seconds since dagster dev started")
    days = timeline.twinx()
    samples = result["samples"]
    if samples:
        t = [s[0] for s in samples]
        days.plot(t, [s[2] for s in samples], color="#38a169", label="days featurised")
        days.plot(t, [s[3] for s in samples], color="#e53e3e", label="days judged")
        days.set_ylabel("days")
        days.legend(loc="upper left", fontsize=8)
    timeline.set_title(f"{result['label']}: {result['runs']} runs, "
                       f"{result['retrains']} retrains, wall {result['wall_s'] / 60:.1f} min")
    if result["core_cpu_s"] is None:      # another checkout's code, untraced
        bars = [("live loop", {"whole tree (untraced)": result["cpu_s"]})]
    else:
        bars = [("live loop", {"core/": result["core_cpu_s"],
                               "MLflow store": result["registry_cpu_s"],
                               "rest (Dagster, asset code, imports)": max(
                                   result["cpu_s"] - result["core_cpu_s"]
                                   - result["registry_cpu_s"], 0.0)})]
    if result.get("floor"):
        bars.append(("floor: direct core/ calls", {"core/": result["floor"]["cpu_s"]}))
    colours = {"core/": "#2b6cb0", "MLflow store": "#805ad5", "whole tree (untraced)": "#a0aec0",
               "rest (Dagster, asset code, imports)": "#ed8936"}
    seen = set()
    for y, (_, parts) in enumerate(reversed(bars)):
        left = 0.0
        for part, seconds in parts.items():
            cpu.barh(y, seconds, left=left, color=colours[part],
                     label=part if part not in seen else None)
            seen.add(part)
            left += seconds
    cpu.set_yticks(range(len(bars)), [name for name, _ in reversed(bars)])
    cpu.set_xlabel("CPU seconds")
    cpu.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return reporting.save_png(fig, path, dpi=110)
