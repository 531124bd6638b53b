"""`policies.md`: how the replay ran (the fixed prose is the template `intro.md` in this
package), the table, the target, why each policy retrained, the episodes, the experiments;
then the hand-written analysis below `ANALYSIS_MARKER`, kept from the previous file."""

from ct_assets.bench import reporting
from ct_assets.bench.policies.summary import TARGET_DAILY_GAP, verdict
from ct_assets.bench.policies.tables import TABLE_HEADER, fmt, table_rows

ANALYSIS_MARKER = "<!-- analysis below is kept when the bench rewrites this file -->"


def _thresholds(final: dict | None) -> str:
    """Final thresholds; an infinite one (a signal switched off) is stored as null."""
    if not final:
        return "–"
    drift, perf = final.get("drift"), final.get("performance")
    return (f"drift {'off' if drift is None else f'{drift:.2f}'}, "
            f"perf {'off' if perf is None else f'{perf:.4f}'}")


def render_markdown(doc: dict, analysis: str = "") -> str:
    """policies.md: how it was run, the table, episodes, triggers; then the analysis."""
    meta = doc["meta"]
    by = {p["name"]: p for p in doc["policies"]}
    out = [
        *reporting.template(
            __package__, "intro.md", command=meta.get("command", "ct bench policies"),
            start=doc["start"], end=doc["end"], days=len(doc["days"]),
            n_estimators=meta.get("n_estimators", "?"), window_days=doc["window_days"],
            holdout_days=doc["holdout_days"], label_lag_days=doc.get("label_lag_days", 2),
            machine=meta.get("machine", "?"),
            measured_at=meta.get("measured_at", "?"), fits=meta.get("fits", "?"),
            gates=meta.get("gates", "?"), wall_min=f"{meta.get('wall_s', 0) / 60:.1f}",
        ).splitlines(), "",
        "## Results", "",
    ]
    out += reporting.md_table(TABLE_HEADER, table_rows(doc))
    target = verdict(doc)
    if target is not None:
        a, w, d = by["production"], by["weekly"], by["daily"]
        checks = target["checks"]
        out += ["", f"**Target: {'met' if target['met'] else 'not met'}.** "
                f"Production mean AUC {a['mean_auc']:.4f} vs weekly {w['mean_auc']:.4f} "
                f"({target['gap_to_weekly']:+.4f}, {'✓' if checks['auc_vs_weekly'] else '✗'}), "
                f"retrains {a['retrains']} vs weekly {w['retrains']} "
                f"({'✓' if checks['retrains_vs_weekly'] else '✗'}), "
                f"{target['gap_to_daily']:.4f} below daily {d['mean_auc']:.4f} "
                f"(target ≤ {TARGET_DAILY_GAP}, {'✓' if checks['within_daily'] else '✗'})."]
    out += ["", "![daily AUC per policy](policies.png)", "",
            "## Why each policy retrained", ""]
    rows = []
    for p in doc["policies"]:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(p["retrain_kinds"].items(),
                                                          key=lambda kv: -kv[1]))
        promoted_share = p["promotions"] / p["retrains"] if p["retrains"] else 0
        pred = p["predictive"]
        leads = pred["lead_days"]
        final = (p["thresholds"] or {}).get("final") or {}
        gates = p.get("gate_outcomes", {})
        rows.append([p["name"], kinds, f"{promoted_share:.0%}",
                     f"{gates.get('auc', '?')} / {gates.get('slice', '?')} / "
                     f"{gates.get('floor', '?')}",
                     str(p["suppressed_by_cooldown"]),
                     f"{pred['triggers']} ({pred['promoted']} promoted; lead "
                     f"{', '.join(f'{k}d×{leads.count(k)}' for k in sorted(set(leads)))})"
                     if leads else "–",
                     _thresholds(final)])
    out += reporting.md_table(["policy", "retrains by reason", "promoted",
                      "rejected: AUC interval / slice veto / floors", "reasons inside cooldown",
                      "predictive triggers", "final thresholds"], rows, right_from=2)
    episodes = doc["episodes"]["list"]
    out += ["", "## Drift episodes", "", f"Definition: {doc['episodes']['definition']} "
            f"(mean gap over the range: {fmt(doc['episodes'].get('mean_gap'))}). "
            f"Reaction: {doc['episodes'].get('reaction', '')} (1 = retrained on the onset "
            "day's labels and promoted for the next day); – = not within the range.", ""]
    if episodes:
        names = [p["name"] for p in doc["policies"]]
        rows = []
        for i, e in enumerate(episodes):
            rows.append([f"{e['onset']} .. {e['last']}", str(e["days"]), f"{e['peak_gap']:.3f}"]
                        + [fmt(by[n]["episode_reaction_days"][i], "d") for n in names])
        out += reporting.md_table(["episode", "days", "peak gap"] + names, rows)
        split = [(p["name"], p.get("vs_daily_in_episodes")) for p in doc["policies"]]
        if any(v for _, v in split):
            out += ["", f"Mean daily AUC minus the daily policy's, on the "
                    f"{split[0][1]['episode_days'] if split[0][1] else '?'} episode days and on "
                    "the other days:", ""]
            out += reporting.md_table(["policy", "in episodes", "elsewhere"],
                             [[n, fmt(v["in_episodes"], "+.4f"), fmt(v["elsewhere"], "+.4f")]
                              for n, v in split if v])
    else:
        out.append("_no episode found_")
    if doc.get("variants"):
        out += ["", "## Experiments", "",
                "Variants replayed in the same run (same fits and gates, same charging), "
                "to see where the seven policies sit and what would move `production`. Knobs "
                "that production does not have yet are marked in the description; everything "
                "else is a `Thresholds` / `PolicyConfig` value passed to the same "
                "`core/policy.py` calls.", ""]
        out += reporting.md_table(TABLE_HEADER, table_rows(doc, "variants"))
        out += [""] + [f"- `{v['name']}`: {v['description']}" for v in doc["variants"]]
    if meta.get("holdout_auc_pooled_minus_per_day") is not None:
        out += ["", "Held-out AUC pooled over the 3 held-out days minus the mean of the per-day "
                "AUCs on the same days, averaged over every fitted model: "
                f"{meta['holdout_auc_pooled_minus_per_day']:+.4f}."]
    if meta.get("note"):
        out += ["", f"Note: {meta['note']}"]
    out += ["", ANALYSIS_MARKER, ""]
    if analysis.strip():
        out.append(analysis.strip())
    return "\n".join(out) + "\n"
