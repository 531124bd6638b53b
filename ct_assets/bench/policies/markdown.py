"""`policies.md`: how the replay ran (the fixed prose is the template `intro.md` in this
package), the table and the target, the hindsight ceiling, the gate before and after, CBPE,
the tuning, reproducibility, why production retrained and the episodes; then the hand-written
analysis below `ANALYSIS_MARKER`, kept from the previous file."""

from ct_assets.bench import reporting
from ct_assets.bench.policies.summary import TARGET_DAILY_GAP
from ct_assets.bench.policies.tables import (
    TABLE_HEADER,
    fmt,
    gate_rows,
    hindsight_rows,
    table_rows,
    versus,
)

ANALYSIS_MARKER = "<!-- analysis below is kept when the bench rewrites this file -->"


def _target(doc: dict) -> list[str]:
    t = doc.get("target")
    if not t:
        return []
    vs = t["vs_daily"]
    ci = vs.get("ci90") or [None, None]
    return ["", f"**Target (report period): {'met' if t['met'] else 'not met'}.** Production "
            f"is {t['gap_to_daily']:+.4f} below daily (target ≤ {TARGET_DAILY_GAP}; "
            f"production − daily {fmt(vs.get('mean'), '+.4f')}, 90% CI "
            f"[{fmt(ci[0], '+.4f')}, {fmt(ci[1], '+.4f')}]; "
            f"{'✓' if t['checks']['within_daily'] else '✗'}) with {t['retrains']} retrains "
            f"against {t['best_weekly_retrains']} for the best weekly schedule "
            f"({t['best_weekly']}; {'✓' if t['checks']['retrains_vs_best_weekly'] else '✗'}; "
            f"stretch, half as many: {'✓' if t['stretch_half_retrains'] else '✗'})."]


def _cbpe(doc: dict) -> list[str]:
    c = doc.get("cbpe") or {}
    rows = [[period, str(c[period]["days"]), fmt(c[period]["mae"]), fmt(c[period]["bias"], "+.4f"),
             fmt(c[period]["error_sd"]), fmt(c[period]["stated_sd"]),
             fmt(c[period]["coverage90"], ".0%"), fmt(c[period]["corr_auc"], ".2f"),
             fmt(c[period]["corr_drop"], ".2f")] for period in ("tune", "report") if period in c]
    out = ["", "## CBPE: the champion's AUC estimated without labels", "",
           "Each served day, `core/cbpe.py` estimates the serving champion's AUC from its "
           "scores calibrated on its own held-out days (isotonic); the error is against the "
           "realised AUC once the labels arrive (production's champions).", ""]
    out += reporting.md_table(["period", "days", "MAE", "bias", "error sd", "stated sd",
                               "stated 90% interval covers", "corr(estimate, AUC)",
                               "corr(estimated drop, drop)"], rows)
    lead = c.get("lead")
    if lead:
        out += ["", f"Lead time: {lead['definition']}. Alarm levels: "
                + ", ".join(f"{k} {fmt(v)}" for k, v in lead["levels"].items()) + ".", ""]
        rows = []
        for period in ("tune", "report"):
            s = lead[period]["summary"]
            for name in ("estimate", "refit"):
                rows.append([period, name, f"{s[name]['detected']} of {s['episodes']}",
                             f"{s['performance']['detected']} of {s['episodes']}",
                             fmt(s[name]["median_lead_days"], "+.1f"),
                             str(s[name]["both_detected"])])
        out += reporting.md_table(["period", "signal", "episodes alarmed", "label drop alarmed",
                                   "median lead over the label drop, days",
                                   "episodes both alarmed"], rows, right_from=2)
    return out


def _tuning(doc: dict) -> list[str]:
    t = doc["tuning"]
    policy_choice = t["policy"]
    out = ["", "## Tuning (tune period only)", "", f"- Gate: {t['rules']['gate']}.",
           f"- Trigger: {t['rules']['policy']}.", "- Space: " + "; ".join(
               f"{k} ∈ {{{', '.join(map(str, v))}}}" for k, v in t["space"].items()) + ".",
           "", "Tune-period mean daily AUC of each schedule under each gate tolerance (✓: "
           "kept):", ""]
    tolerances = [r["tolerance"] for r in next(iter(t["gate"]["rows"].values()))]
    out += reporting.md_table(
        ["schedule", *(f"{x:g}" for x in tolerances)],
        [[name, *(fmt(r["mean_auc"]) + (" ✓" if r["tolerance"] == t["gate"]["chosen"][name]
                                         else "") for r in rows)]
         for name, rows in t["gate"]["rows"].items()])
    rows = sorted(policy_choice["rows"], key=lambda r: -r["mean_auc"])[:12]
    out += ["", f"Trigger settings: {policy_choice['eligible']} of {len(policy_choice['rows'])} "
            f"eligible (at most {policy_choice['max_retrains']} tune-period retrains, the best "
            f"weekly schedule of the tune period: {policy_choice['best_weekly']}); the 12 best "
            "by tune-period mean AUC:", ""]
    out += reporting.md_table(
        ["setting", "parameters", "tune mean AUC", "retrains", "eligible"],
        [[r["name"] + (" ✓" if r["name"] == policy_choice["chosen"] else ""),
          ", ".join(f"{k}={v}" for k, v in policy_choice["settings"][r["name"]].items()),
          fmt(r["mean_auc"]), str(r["retrains"]),
          "yes" if r["retrains"] <= policy_choice["max_retrains"] else "no"]
         for r in rows], right_from=2)
    out += ["", f"Chosen: `{policy_choice['chosen']}` ("
            + ", ".join(f"{k}={v}" for k, v in policy_choice["setting"].items())
            + f"). Production's defaults in core are this setting and gate: "
            f"{'yes' if t['production_is_chosen'] else '**no**'}."]
    return out


def _repro(doc: dict) -> list[str]:
    r = doc.get("reproducibility")
    if not r:
        return []
    out = ["", "## Reproducible decisions", ""]
    if r.get("policies"):
        out += ["A second run in a fresh process (new profiles, new fits) replayed the same "
                "days:", ""]
        out += [f"- `{name}`: {p['retrains']} retrains, decisions "
                + ("identical" if p["identical"] else f"**{p['differing']} differ**")
                for name, p in r["policies"].items()]
    s = r.get("sketches")
    if s and "same_process" in s.get("exact", {}):
        out += ["" if r.get("policies") else None,
                "Whylogs' sketches, the suspected cause of the earlier irreproducibility: "
                f"the references (merged profiles of the training days) of the models trained "
                f"for {', '.join(s['models'])}, {s['columns']} numeric columns each, and the "
                f"drift scores of the {s['days']} days after them, built twice in one process "
                "and once more in a fresh one:", ""]
        rows = []
        for kind in ("default", "exact"):
            for where in ("same_process", "fresh_process"):
                d = s[kind][where]
                rows.append([kind, where.replace("_", " "),
                             f"{d['reference_columns_differ']} of "
                             f"{s['columns'] * len(s['models'])}",
                             f"{d['scores_differ']} of {s['days']}",
                             fmt(d["max_difference"], ".3g"),
                             f"{d['decisions_differ']} of {s['days']}"])
        out += reporting.md_table(
            ["KLL sketches", "second build", "reference deciles that differ",
             "drift scores that differ", "largest difference",
             f"decisions at {s['threshold']} that differ"], rows, right_from=2)
    return [line for line in out if line is not None]


def _production(doc: dict) -> list[str]:
    by = {p["name"]: p for p in doc["policies"]}
    p = by.get("production")
    if not p:
        return []
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(p["retrain_kinds"].items(),
                                                   key=lambda kv: -kv[1]))
    gates = p["gate_outcomes"]
    final = (p["thresholds"] or {}).get("final") or {}
    return ["", "## Why production retrained", "",
            f"Retrains by reason (whole range): {kinds}. Gate: {gates['promoted']} promoted, "
            f"rejected {gates['auc']} on the AUC interval, {gates['slice']} by a slice, "
            f"{gates['floor']} by the floors. Reasons inside the cooldown: "
            f"{p['suppressed_by_cooldown']}. Final thresholds: "
            + ", ".join(f"{k} {fmt(v, '.4g')}" for k, v in final.items()) + "."]


def _episodes(doc: dict) -> list[str]:
    episodes = doc["episodes"]["list"]
    names = [n for n in ("production", "daily", "every-4-days", "static") if n in
             {p["name"] for p in doc["policies"]}]
    by = {p["name"]: p for p in doc["policies"]}
    out = ["", "## Drift episodes", "", f"Definition: {doc['episodes']['definition']} (mean gap "
           f"over the range: {fmt(doc['episodes'].get('mean_gap'))}). Reaction: "
           f"{doc['episodes'].get('reaction', '')}; – = not within the range.", ""]
    if not episodes:
        return [*out, "_no episode found_"]
    reactions = {n: by[n]["tune"]["episode_reaction_days"] + by[n]["report"]
                 ["episode_reaction_days"] for n in names}
    rows = [[f"{e['onset']} .. {e['last']}", str(e["days"]), fmt(e["peak_gap"], ".3f")]
            + [fmt(reactions[n][i] if i < len(reactions[n]) else None, "d") for n in names]
            for i, e in enumerate(episodes)]
    return out + reporting.md_table(["episode", "days", "peak gap", *names], rows)


def render_markdown(doc: dict, analysis: str = "") -> str:
    """policies.md: how it was run, the tables; then the analysis."""
    meta = doc["meta"]
    periods = doc["periods"]
    out = [*reporting.template(
        __package__, "intro.md", command=meta.get("command", "ct bench policies"),
        start=periods["tune"][0], end=periods["report"][1],
        tune_start=periods["tune"][0], tune_end=periods["tune"][1],
        report_start=periods["report"][0], report_end=periods["report"][1],
        n_estimators=meta.get("n_estimators", "?"), window_days=doc["window_days"],
        holdout_days=doc["holdout_days"], label_lag_days=doc.get("label_lag_days", 2),
        machine=meta.get("machine", "?"),
        measured_at=meta.get("measured_at", "?"), fits=meta.get("fits", "?"),
        gates=meta.get("gates", "?"), wall_min=f"{meta.get('wall_s', 0) / 60:.1f}",
    ).splitlines(), "", "## Results", ""]
    out += reporting.md_table(TABLE_HEADER, table_rows(doc))
    out += _target(doc)
    weekly = doc.get("weekly", {})
    by = {p["name"]: p for p in doc["policies"]}
    if weekly.get("report"):
        best, median = weekly["report"]["best"], weekly["report"]["median"]
        prod = by["production"]["report"]
        out += ["", f"Weekly schedules on the report period: best {best} "
                f"({fmt(by[best]['report']['mean_auc'])}), median {median} "
                f"({fmt(by[median]['report']['mean_auc'])}); production − best weekly "
                f"{versus(prod, 'weekly-best')}, − median weekly {versus(prod, 'weekly-median')}"
                f" (the tune period's best was {weekly['tune']['best']})."]
    out += ["", "![daily AUC per policy](policies.png)", "",
            "## Hindsight ceiling (report period)", "",
            "The best choice of at most k retrain days of the report period knowing the "
            "future (`hindsight.py`: a dynamic programme over the AUC of every model trained "
            "for a report day on every later report day; no gate). Production and daily on "
            "the same days: "
            f"{fmt(by['production']['report']['mean_auc'])} with "
            f"{by['production']['report']['retrains']} retrains, "
            f"{fmt(by['daily']['report']['mean_auc'])} with "
            f"{by['daily']['report']['retrains']}.", ""]
    out += reporting.md_table(["k retrains", "used", "mean AUC"], hindsight_rows(doc))
    out += ["", "## The gate, judged by the day", "", doc["gate"]["definition"] + ".", ""]
    out += reporting.md_table(["gate", "period", "false reject", "false accept", "promoted"],
                              gate_rows(doc), right_from=2)
    out += _cbpe(doc) + _tuning(doc) + _repro(doc) + _production(doc) + _episodes(doc)
    if meta.get("note"):
        out += ["", f"Note: {meta['note']}"]
    out += ["", ANALYSIS_MARKER, ""]
    if analysis.strip():
        out.append(analysis.strip())
    return "\n".join(out) + "\n"
