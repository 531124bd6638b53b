"""The document `policies.json` holds: per policy its figures (paired against weekly and daily),
retrain log and daily series; the episodes; the variants; and the verdict on the target."""

import datetime as dt
import math
from dataclasses import asdict

from ct_assets.bench.policies.episodes import (
    EPISODE_FRESH_DAYS,
    EPISODE_GAP,
    EPISODE_MIN_DAYS,
    EPISODE_OLD_DAYS,
    EPISODE_SMOOTH,
    Episode,
    reaction_days,
)
from ct_assets.bench.policies.results import PolicyResult, Retrain, mean

TARGET_DAILY_GAP = 0.003           # production within this much mean AUC of daily


def rounded(value: float | None, digits: int = 4) -> float | None:
    """`value` rounded for the JSON; None for None and NaN."""
    return None if value is None or math.isnan(value) else round(float(value), digits)


def paired_difference(aucs: list[float], baseline: list[float], block: int = 7,
                      n_boot: int = 2000, seed: int = 0) -> dict:
    """Mean daily AUC difference against a baseline served the same days, with a 90% interval
    from a bootstrap of `block`-day blocks (neighbouring days share weather and models)."""
    import numpy as np

    diff = np.asarray(aucs, dtype=float) - np.asarray(baseline, dtype=float)
    diff = diff[~np.isnan(diff)]
    k = len(diff) // block
    if k < 2:
        return {"mean": rounded(float(diff.mean()) if len(diff) else math.nan, 5), "ci90": None}
    blocks = diff[: k * block].reshape(k, block).mean(axis=1)
    rng = np.random.default_rng(seed)
    means = blocks[rng.integers(0, k, (n_boot, k))].mean(axis=1)
    return {"mean": rounded(float(diff.mean()), 5),
            "ci90": [rounded(float(np.quantile(means, 0.05)), 5),
                     rounded(float(np.quantile(means, 0.95)), 5)]}


def gate_outcome(retrain: Retrain) -> str:
    """promoted, or why not: `auc` (the interval of the AUC change reaches below the
    tolerance), `slice` (a carrier/origin slice lost too much), `floor` (sanity floors)."""
    if retrain.promoted:
        return "promoted"
    reason = retrain.gate_reason
    return "floor" if "floor" in reason or "log loss" in reason else \
        "slice" if "slices" in reason else "auc"


def _split_gap(result: PolicyResult, daily: PolicyResult | None,
               episodes: list[Episode]) -> dict | None:
    """Mean daily AUC minus the daily policy's, on episode days and on the other days."""
    if daily is None:
        return None
    inside = {e.onset + dt.timedelta(days=i) for e in episodes for i in range(e.days)}
    base = {s.day: s.auc for s in daily.served}
    diffs = {True: [], False: []}
    for s in result.served:
        if s.day in base:
            diffs[s.day in inside].append(s.auc - base[s.day])
    return {"episode_days": len(diffs[True]), "in_episodes": rounded(mean(diffs[True]), 5),
            "elsewhere": rounded(mean(diffs[False]), 5)}


def policy_row(result: PolicyResult, episodes: list[Episode],
               baselines: dict[str, PolicyResult], detail: bool = True) -> dict:
    """One policy's figures: the required keys first, then the detail (`detail`: the retrain
    log and the daily series, for the plot and for reading back)."""
    kinds: dict[str, int] = {}
    for retrain in result.retrains:
        for kind in retrain.kinds:
            kinds[kind] = kinds.get(kind, 0) + 1
    leads = [r.lead_days for r in result.retrains if r.lead_days is not None]
    spec = result.spec
    row = {
        "name": spec.name,
        "mean_auc": rounded(result.mean_auc(), 5),
        "p10_auc": rounded(result.p10_auc(), 5),
        "retrains": len(result.retrains),
        "promotions": result.promotions,
        "cpu_s": round(result.cpu_s, 2),
        "fit_cpu_s": round(sum(r.fit_cpu_s for r in result.retrains), 2),
        "gate_cpu_s": round(sum(r.gate_cpu_s for r in result.retrains), 2),
        "description": spec.description,
        "vs": {name: paired_difference(result.aucs, base.aucs)
               for name, base in baselines.items() if base is not result},
        "retrain_kinds": kinds,
        "gate_outcomes": {k: sum(gate_outcome(r) == k for r in result.retrains)
                          for k in ("promoted", "auc", "slice", "floor")},
        "predictive": {"triggers": len(leads), "lead_days": leads,
                       "promoted": sum(r.promoted for r in result.retrains
                                       if r.lead_days is not None)},
        "suppressed_by_cooldown": sum(s.suppressed for s in result.served),
        "mean_drop": rounded(mean([s.drop for s in result.served]), 5),
        "episode_reaction_days": [reaction_days(result, e) for e in episodes],
        "vs_daily_in_episodes": _split_gap(result, baselines.get("daily"), episodes),
        "thresholds": None if spec.thresholds is None else {
            "start": asdict(spec.thresholds),
            "final": None if not result.retrains or not result.retrains[-1].thresholds_after
            else dict(zip(("drift", "performance"), result.retrains[-1].thresholds_after,
                          strict=True))},
        "config": None if spec.config is None else asdict(spec.config),
        "experiment": {k: v for k, v in (("schedule", spec.schedule),
                                         ("period_days", spec.period_days),
                                         ("phase", spec.phase), ("promise", spec.promise),
                                         ("age_from", spec.age_from))},
    }
    if detail:
        row["retrain_log"] = [{
            "day": r.day.isoformat(), "kinds": r.kinds, "reasons": r.reasons,
            "promoted": r.promoted, "candidate_auc": rounded(r.candidate_auc, 5),
            "champion_auc": rounded(r.champion_auc, 5),
            "auc_gain": rounded(r.auc_gain, 5), "delta_low": rounded(r.delta_low, 5),
            "lead_days": r.lead_days, "fit_cpu_s": round(r.fit_cpu_s, 3),
            "gate_cpu_s": round(r.gate_cpu_s, 3),
            "thresholds_after": list(r.thresholds_after) if r.thresholds_after else None,
            "gate": gate_outcome(r), "gate_reason": r.gate_reason,
        } for r in result.retrains]
        row["daily"] = {
            "auc": [rounded(s.auc, 5) for s in result.served],
            "drift": [rounded(s.drift, 4) for s in result.served],
            "drop": [rounded(s.drop, 5) for s in result.served],
            "model_day": [s.model_day.isoformat() for s in result.served],
            "drift_threshold": [rounded(s.drift_threshold, 4) for s in result.served],
            "performance_threshold": [rounded(s.performance_threshold, 5)
                                      for s in result.served],
        }
    else:
        row["retrain_days"] = [r.day.isoformat() for r in result.retrains]
    return row


def summarise(results: dict[str, PolicyResult], start: dt.date, end: dt.date, *,
              window_days: int, holdout_days: int, label_lag_days: int,
              episodes: list[Episode],
              gaps: dict[dt.date, float], meta: dict,
              variants: dict[str, PolicyResult] | None = None) -> dict:
    """The JSON document: the required keys and per-policy figures first, then the detail;
    `variants` (experiments) in a section of their own, compared with the same baselines."""
    baselines = {n: results[n] for n in ("weekly", "daily") if n in results}
    days = [s.day.isoformat() for s in next(iter(results.values())).served]
    return {
        "start": start.isoformat(), "end": end.isoformat(), "window_days": window_days,
        "policies": [policy_row(r, episodes, baselines) for r in results.values()],
        "holdout_days": holdout_days,
        "label_lag_days": label_lag_days,
        "days": days,
        "episodes": {
            "definition": (f"runs of >= {EPISODE_MIN_DAYS} days whose trailing "
                           f"{EPISODE_SMOOTH}-day mean of AUC(model trained for D) - "
                           f"AUC(model trained for D-{EPISODE_OLD_DAYS}) on D's flights is "
                           f">= {EPISODE_GAP}"),
            "reaction": (f"days from the onset to the first day served by a model promoted "
                         f"after the onset day; 0 when the model serving the onset day was "
                         f"trained for a day at most {EPISODE_FRESH_DAYS} days before it"),
            "list": [{"onset": e.onset.isoformat(), "last": e.last.isoformat(), "days": e.days,
                      "peak_gap": rounded(e.peak_gap), "mean_gap": rounded(e.mean_gap)}
                     for e in episodes],
            "mean_gap": rounded(mean(list(gaps.values())), 5),
            "gap_by_day": {d.isoformat(): rounded(g, 5) for d, g in sorted(gaps.items())},
        },
        "variants": [policy_row(r, episodes, baselines, detail=False)
                     for r in (variants or {}).values()],
        "meta": meta,
    }


def verdict(doc: dict) -> dict | None:
    """The target: production mean AUC >= weekly's with no more retrains, and within
    `TARGET_DAILY_GAP` of daily. None unless the three policies ran."""
    by = {p["name"]: p for p in doc["policies"]}
    if not {"production", "weekly", "daily"} <= set(by):
        return None
    a, w, d = by["production"], by["weekly"], by["daily"]
    checks = {
        "auc_vs_weekly": a["mean_auc"] >= w["mean_auc"],
        "retrains_vs_weekly": a["retrains"] <= w["retrains"],
        "within_daily": d["mean_auc"] - a["mean_auc"] <= TARGET_DAILY_GAP,
    }
    return {"met": all(checks.values()), "checks": checks,
            "gap_to_weekly": round(a["mean_auc"] - w["mean_auc"], 5),
            "gap_to_daily": round(d["mean_auc"] - a["mean_auc"], 5)}
