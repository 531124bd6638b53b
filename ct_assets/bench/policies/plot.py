"""`policies.png`: the report period's cost/quality plane with the hindsight ceiling; daily
AUC against daily's over the whole range; production's signals and thresholds; CBPE against
the realised AUC."""

from pathlib import Path

from ct_assets.bench import reporting
from ct_assets.bench.policies.summary import TARGET_DAILY_GAP

SHOWN = ("production", "every-4-days", "every-2-days", "static", "monthly")


def plot(doc: dict, path: Path) -> Path:
    import matplotlib.dates as mdates
    import pandas as pd

    plt = reporting.pyplot()
    days = pd.to_datetime(doc["days"])
    by = {p["name"]: p for p in doc["policies"]}
    split = pd.Timestamp(doc["periods"]["report"][0])
    fig, axes = plt.subplots(4, 1, figsize=(13, 15),
                             gridspec_kw={"height_ratios": [2.2, 1.6, 1.3, 1.3]})
    # 1. the report period: mean AUC against retrains, the ceiling
    ax = axes[0]
    for p in doc["policies"]:
        r = p["report"]
        if r["mean_auc"] is None:
            continue
        main = p["name"] in ("production", "daily") or p["name"].startswith(("weekly", "every"))
        ax.scatter(r["retrains"], r["mean_auc"], s=40 if main else 18,
                   color="tab:red" if p["name"] == "production" else
                   "tab:blue" if main else "tab:gray", zorder=3)
        ax.annotate(p["name"], (r["retrains"], r["mean_auc"]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    ceiling = doc["hindsight"]
    ax.plot([h["retrains"] for h in ceiling], [h["mean_auc"] for h in ceiling], marker="s",
            color="black", lw=1, label="hindsight ceiling (best k retrain days)")
    daily = by["daily"]["report"]["mean_auc"]
    ax.axhline(daily - TARGET_DAILY_GAP, color="tab:green", ls=":", lw=1,
               label=f"daily − {TARGET_DAILY_GAP}")
    ax.set_xscale("log")
    ax.set_xlabel("retrains in the report period (log)")
    ax.set_ylabel("mean daily AUC")
    ax.set_title(f"report period {doc['periods']['report'][0]} .. {doc['periods']['report'][1]}"
                 " (untuned)", fontsize=9, loc="left")
    ax.legend(fontsize=8, loc="lower right")
    # 2. daily AUC minus daily's, 28-day trailing mean, both periods
    ax = axes[1]
    raw = pd.Series(by["daily"]["daily"]["auc"], index=days, dtype=float)
    weekly = doc["weekly"]["report"].get("best")
    for name in (*SHOWN, weekly):
        if name not in by:
            continue
        diff = pd.Series(by[name]["daily"]["auc"], index=days, dtype=float) - raw
        ax.plot(days, diff.rolling(28, min_periods=7).mean(),
                lw=2.2 if name == "production" else 1.0, label=name)
    for e in doc["episodes"]["list"]:
        ax.axvspan(pd.Timestamp(e["onset"]), pd.Timestamp(e["last"]) + pd.Timedelta(days=1),
                   color="tab:red", alpha=0.08, lw=0)
    ax.axhline(0, color="black", lw=0.8)
    ax.axhline(-TARGET_DAILY_GAP, color="black", lw=0.6, ls=":")
    ax.axvline(split, color="black", lw=1.2, ls="--")
    ax.set_ylabel("AUC − daily's")
    ax.set_title("daily AUC minus the daily policy's, 28-day trailing mean; dashed: tune | "
                 "report; shaded: drift episodes", fontsize=9, loc="left")
    ax.legend(fontsize=7, ncol=3, loc="lower left")
    # 3. production's refit signal and threshold, retrains
    prod = by["production"]["daily"]
    ax = axes[2]
    gain = pd.Series(prod["refit_gain"], index=days, dtype=float)
    ax.plot(days, gain, lw=0.5, color="tab:purple", alpha=0.5, label="refit − champion AUC")
    ax.plot(days, gain.rolling(3, min_periods=1).mean(), lw=1.2, color="tab:purple",
            label="3-day mean")
    ax.plot(days, pd.Series(prod["refit_threshold"], index=days, dtype=float), color="black",
            lw=1, ls="--", label="refit threshold (learned)")
    for r in by["production"]["retrain_log"]:
        ax.axvline(pd.Timestamp(r["day"]), color="tab:green" if r["promoted"] else "tab:gray",
                   lw=0.6, alpha=0.7)
    ax.axvline(split, color="black", lw=1.2, ls="--")
    ax.set_ylabel("AUC gain")
    ax.set_title("production: the cheap refit's signal; retrains (green: promoted, grey: "
                 "rejected)", fontsize=9, loc="left")
    ax.legend(fontsize=7, ncol=3, loc="lower left")
    # 4. CBPE against the realised AUC
    ax = axes[3]
    ax.plot(days, pd.Series(by["production"]["daily"]["auc"], index=days, dtype=float),
            lw=0.8, color="tab:blue", label="realised AUC (labels)")
    ax.plot(days, pd.Series(prod["estimated_auc"], index=days, dtype=float), lw=0.8,
            color="tab:orange", label="CBPE estimate (no labels)")
    ax.axvline(split, color="black", lw=1.2, ls="--")
    ax.set_ylabel("AUC")
    ax.set_title("production's champion: CBPE estimate against the realised AUC", fontsize=9,
                 loc="left")
    ax.legend(fontsize=7, loc="lower left")
    for ax in axes[1:]:
        ax.xaxis.set_major_locator(mdates.MonthLocator())
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%b"))
    fig.tight_layout()
    return reporting.save_png(fig, path, dpi=85)
