"""`drift.png`: detection rate per injected shift and false alarms (left), per-day latency of
both detectors (right)."""

import datetime as dt
import textwrap
from pathlib import Path

import numpy as np

from ct_assets.bench import reporting
from ct_assets.bench.drift.shifts import DETECTORS, shifts_in


def plot(doc: dict, path: Path) -> Path:
    import matplotlib.dates

    plt = reporting.pyplot()
    q = doc["summary"]["quality"]
    used = shifts_in(doc["summary"])
    groups = [s.key for s in used] + ["clean"]
    labels = [s.short for s in used] + ["clean days\n(false alarms)"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(15, 5.5),
                                      gridspec_kw={"width_ratios": [1.6, 1]})
    width = 0.27
    colors = {"ours": "#1f77b4", "evidently": "#ff7f0e", "evidently_any": "#ffbb78"}
    x = np.arange(len(groups))
    for i, name in enumerate(DETECTORS):
        heights, raised = [], []
        for g in groups:
            item = q[name]["clean"] if g == "clean" else q[name]["shifts"][g]
            share = item.get("share") if item else None
            heights.append(0.0 if share is None else share)
            raised.append(item.get("errors", 0) if item else 0)
        bars = left.bar(x + (i - 1) * width, heights, width, label=DETECTORS[name],
                        color=colors[name])
        for bar, height, err in zip(bars, heights, raised, strict=True):
            middle = bar.get_x() + bar.get_width() / 2
            if err and height == 0:
                left.text(middle, 0.02, "raised an error", ha="center", va="bottom",
                          fontsize=7, rotation=90)
            else:
                left.text(middle, height + 0.01, f"{height:.0%}", ha="center", va="bottom",
                          fontsize=6)
    left.set_xticks(x, labels, fontsize=8)
    left.set_ylim(0, 1.1)
    left.set_ylabel("share of days flagged")
    peer = q["evidently"]
    raised = [(s.short.replace("\n", " "), peer["shifts"][s.key]) for s in used]
    raised.append(("clean days", peer["clean"] or {}))
    raised = [f"{label} {item['errors']}/{item['errors'] + item['n']}" for label, item in raised
              if item.get("errors")]
    note = ("Evidently raised an error (an all-null column) on: " + ", ".join(raised)
            + "; its shares are of the days it gave a verdict on.") if raised else ""
    left.set_title("detection rate per injected shift, false alarms on clean days")
    left.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=1)
    clean = doc["records"]["clean"]
    days = [dt.date.fromisoformat(r["day"]) for r in clean]
    right.plot(days, [1000 * r["ours"]["check_s"] for r in clean], ".", ms=3,
               label="ours: daily check", color=colors["ours"])
    right.plot(days, [1000 * (r["ours"]["check_s"] + r["ours"]["reference_s"]) for r in clean],
               "x", ms=3, color="#2ca02c",
               label=f"ours: + reference (read {doc['meta']['window']}, merge, calibrate)")
    peer = [r for r in clean if "evidently" in r and "error" not in r["evidently"]]
    if peer:
        right.plot([dt.date.fromisoformat(r["day"]) for r in peer],
                   [1000 * r["evidently"]["seconds"] for r in peer], ".", ms=3,
                   label="Evidently DataDriftPreset", color=colors["evidently"])
    right.set_yscale("log")
    right.set_ylabel("ms per day (log)")
    right.set_title("per-day latency")
    right.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1)
    locator = matplotlib.dates.AutoDateLocator()
    right.xaxis.set_major_locator(locator)
    right.xaxis.set_major_formatter(matplotlib.dates.ConciseDateFormatter(locator))
    right.tick_params(axis="x", labelsize=8)
    fig.tight_layout(rect=(0, 0.07 if note else 0, 1, 1))
    if note:
        fig.text(0.01, 0.01, textwrap.fill(note, 190), fontsize=7, va="bottom")
    return reporting.save_png(fig, path, dpi=110)
