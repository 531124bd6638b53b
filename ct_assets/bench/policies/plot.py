"""`policies.png`: daily AUC per policy against daily's, retrains and episodes marked, and the
production policy's signals against the thresholds it learned."""

from pathlib import Path

from ct_assets.bench import reporting
from ct_assets.bench.policies.summary import TARGET_DAILY_GAP


def plot(doc: dict, path: Path) -> Path:
    """Daily AUC per policy (one panel each, 7-day mean bold, daily's for reference), retrain
    markers (filled: promoted, hollow: rejected), episodes shaded; then the production policy's
    signals against its thresholds."""
    import matplotlib.dates as mdates
    import pandas as pd

    plt = reporting.pyplot()
    days = pd.to_datetime(doc["days"])
    policies = doc["policies"]
    by = {p["name"]: p for p in policies}
    production = by.get("production")
    top = 1 if "daily" in by else 0
    panels = top + len(policies) + (2 if production else 0)
    fig, axes = plt.subplots(panels, 1, figsize=(13, 1.9 * panels + 1), sharex=True,
                             gridspec_kw={"height_ratios": [2] * top + [1] * (panels - top)})
    reference = None
    episodes = [(pd.Timestamp(e["onset"]), pd.Timestamp(e["last"]) + pd.Timedelta(days=1))
                for e in doc["episodes"]["list"]]
    if top:
        raw = pd.Series(by["daily"]["daily"]["auc"], index=days, dtype=float)
        reference = raw.rolling(7, min_periods=1).mean()
        ax = axes[0]
        colors = plt.get_cmap("tab10")
        for i, p in enumerate(policies):
            if p["name"] == "daily":
                continue
            diff = pd.Series(p["daily"]["auc"], index=days, dtype=float) - raw
            ax.plot(days, diff.rolling(28, min_periods=7).mean(), lw=2.2 if p["name"] in (
                "production", "weekly") else 1.0, color=colors(i),
                label=f"{p['name']} ({p['mean_auc'] - by['daily']['mean_auc']:+.4f})")
        ax.axhline(0, color="black", lw=0.8)
        ax.axhline(-TARGET_DAILY_GAP, color="black", lw=0.6, ls=":")
        for onset, stop in episodes:
            ax.axvspan(onset, stop, color="tab:red", alpha=0.08, lw=0)
        ax.set_ylabel("AUC − daily's")
        ax.set_title("daily AUC minus the daily policy's, 28-day trailing mean (legend: whole "
                     f"range); dotted: −{TARGET_DAILY_GAP}; shaded: drift episodes",
                     fontsize=9, loc="left")
        ax.legend(loc="lower left", fontsize=7, ncol=3)
    aucs = [v for p in policies for v in p["daily"]["auc"] if v is not None]
    low, high = (min(aucs), max(aucs)) if aucs else (0.5, 1.0)
    for ax, p in zip(axes[top:], policies, strict=False):
        auc = pd.Series(p["daily"]["auc"], index=days, dtype=float)
        ax.plot(days, auc, lw=0.5, color="tab:blue", alpha=0.45)
        ax.plot(days, auc.rolling(7, min_periods=1).mean(), lw=1.6, color="tab:blue",
                label=f"{p['name']} (7-day mean)")
        if reference is not None and p["name"] != "daily":
            ax.plot(days, reference, lw=1.0, color="black", ls="--", alpha=0.6,
                    label="daily (7-day mean)")
        for onset, stop in episodes:
            ax.axvspan(onset, stop, color="tab:red", alpha=0.08, lw=0)
        log = p["retrain_log"]
        for promoted, style in ((True, dict(marker="^", color="tab:green")),
                                (False, dict(marker="^", facecolors="none",
                                             edgecolors="tab:gray"))):
            when = [pd.Timestamp(r["day"]) for r in log if r["promoted"] == promoted]
            if when:
                ax.scatter(when, [low] * len(when), s=18, zorder=3, **style)
        ax.set_ylim(low - 0.01, high + 0.005)
        ax.set_ylabel("AUC")
        ax.set_title(f"{p['name']}: mean {p['mean_auc']:.4f}, p10 {p['p10_auc']:.4f}, "
                     f"{p['retrains']} retrains (▲ promoted {p['promotions']}, △ rejected)",
                     fontsize=9, loc="left")
        ax.legend(loc="upper right", fontsize=7, ncol=2)
    if production:
        ax = axes[top + len(policies)]
        ax.plot(days, production["daily"]["drift"], lw=0.8, color="tab:purple",
                label="drift score vs the serving champion")
        ax.plot(days, production["daily"]["drift_threshold"], lw=1.2, color="tab:purple",
                ls="--", label="drift threshold")
        ax.set_yscale("log")
        ax.set_ylabel("drift")
        ax.set_title("production: signals after each day and the thresholds it learned",
                     fontsize=9, loc="left")
        ax.legend(loc="upper right", fontsize=7, ncol=2)
        ax = axes[top + len(policies) + 1]
        ax.plot(days, production["daily"]["drop"], lw=0.8, color="tab:orange",
                label="AUC drop vs held-out")
        ax.plot(days, production["daily"]["performance_threshold"], lw=1.2, color="tab:orange",
                ls="--", label="performance threshold")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_ylabel("drop")
        kinds_color = {"drift": "tab:purple", "performance": "tab:orange", "stale": "tab:gray"}
        for r in production["retrain_log"]:
            kind = r["kinds"][0]
            color = kinds_color.get(kind.replace("predicted_", ""), "black")
            ax.axvline(pd.Timestamp(r["day"]), color=color, lw=0.6,
                       ls=":" if kind.startswith("predicted") else "-", alpha=0.6)
        ax.legend(loc="upper right", fontsize=7, ncol=2)
    axes[-1].xaxis.set_major_locator(mdates.MonthLocator())
    axes[-1].xaxis.set_major_formatter(mdates.DateFormatter("%b"))
    fig.tight_layout()
    return reporting.save_png(fig, path, dpi=90)
