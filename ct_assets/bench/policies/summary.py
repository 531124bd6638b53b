"""The document `policies.json` holds: the periods; per policy its figures on each period
(paired against production, daily and the weekly schedules); the hindsight ceiling; the gate
before and after; CBPE; the tuning; the episodes; and the verdict on the target."""

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
from ct_assets.bench.policies.results import PolicyResult, Retrain, mean, rounded
from ct_assets.bench.policies.tuning import Period

TARGET_DAILY_GAP = 0.003           # production within this much mean AUC of daily
DETAIL = ("production", "daily", "static")   # policies whose retrain log is kept in full


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


def weekly_peers(results: dict[str, PolicyResult], period: Period) -> dict:
    """The best and the median weekly schedule (by mean daily AUC) of a period."""
    ranked = sorted((r.within(period.start, period.end).mean_auc(), n)
                    for n, r in results.items() if n.startswith("weekly-"))
    if not ranked:
        return {}
    return {"best": ranked[-1][1], "median": ranked[len(ranked) // 2][1],
            "by_mean_auc": [n for _, n in reversed(ranked)]}


def _peers(results: dict[str, PolicyResult], period: Period) -> dict[str, PolicyResult]:
    peers = {n: results[n] for n in ("production", "daily") if n in results}
    weekly = weekly_peers(results, period)
    if weekly:
        peers["weekly-best"] = results[weekly["best"]]
        peers["weekly-median"] = results[weekly["median"]]
    return {n: r.within(period.start, period.end) for n, r in peers.items()}


def _period_row(result: PolicyResult, period: Period, peers: dict[str, PolicyResult],
                episodes: list[Episode]) -> dict:
    mine = result.within(period.start, period.end)
    inside = [e for e in episodes if period.start <= e.onset < period.end]
    reached = [reaction_days(result, e) for e in inside]
    return {**mine.figures(),
            "vs": {name: paired_difference(mine.aucs, peer.aucs)
                   for name, peer in peers.items() if peer.spec.name != result.spec.name},
            "episode_reaction_days": reached}


def policy_row(result: PolicyResult, periods: dict[str, Period], episodes: list[Episode],
               peers: dict[str, dict[str, PolicyResult]]) -> dict:
    """One policy: its figures per period (the contract's keys first), then the detail."""
    kinds: dict[str, int] = {}
    for retrain in result.retrains:
        for kind in retrain.kinds:
            kinds[kind] = kinds.get(kind, 0) + 1
    spec = result.spec
    last = next((s for s in reversed(result.served) if s.drift_threshold is not None), None)
    row = {
        "name": spec.name,
        **{label: _period_row(result, period, peers[label], episodes)
           for label, period in periods.items()},
        "description": spec.description,
        "retrain_kinds": kinds,
        "gate_outcomes": {k: sum(gate_outcome(r) == k for r in result.retrains)
                          for k in ("promoted", "auc", "slice", "floor")},
        "predictive": {"triggers": sum(r.lead_days is not None for r in result.retrains),
                       "promoted": sum(r.promoted for r in result.retrains
                                       if r.lead_days is not None)},
        "suppressed_by_cooldown": sum(s.suppressed for s in result.served),
        "thresholds": None if spec.thresholds is None else {
            "start": {k: _finite(v) for k, v in asdict(spec.thresholds).items()},
            "final": None if last is None else {
                "drift": _finite(last.drift_threshold),
                "performance": _finite(last.performance_threshold),
                "refit": _finite(last.refit_threshold)}},
        "config": None if spec.config is None else {k: _finite(v)
                                                    for k, v in asdict(spec.config).items()},
        "gate": None if spec.gate is None else {"tolerance": spec.gate.tolerance,
                                                "block": spec.gate.block},
        "retrain_days": [r.day.isoformat() for r in result.retrains],
        "daily": {"auc": [rounded(s.auc, 5) for s in result.served]},
    }
    if spec.name in DETAIL:
        row["retrain_log"] = [{
            "day": r.day.isoformat(), "kinds": r.kinds, "reasons": r.reasons,
            "promoted": r.promoted, "delta_auc": rounded(r.delta_auc, 5),
            "delta_low": rounded(r.delta_low, 5), "lead_days": r.lead_days,
            "fit_cpu_s": round(r.fit_cpu_s, 3), "gate_cpu_s": round(r.gate_cpu_s, 3),
            "gate": gate_outcome(r), "gate_reason": r.gate_reason,
        } for r in result.retrains]
        row["daily"].update({
            "model_day": [s.model_day.isoformat() for s in result.served],
            "drift": [rounded(s.drift, 4) for s in result.served],
            "drop": [rounded(s.drop, 5) for s in result.served],
            "estimated_auc": [rounded(s.estimated_auc, 5) for s in result.served],
            "estimated_drop": [rounded(s.estimated_drop, 5) for s in result.served],
            "refit_gain": [rounded(s.refit_gain, 5) for s in result.served],
            "drift_threshold": [rounded(s.drift_threshold, 4) for s in result.served],
            "refit_threshold": [rounded(s.refit_threshold, 5) for s in result.served],
        })
    return row


def _finite(value):
    return None if value is None or (isinstance(value, float) and math.isinf(value)) \
        or value == 10 ** 6 else value


def summarise(results: dict[str, PolicyResult], tune: Period, report: Period, *,
              window_days: int, holdout_days: int, label_lag_days: int,
              episodes: list[Episode], gaps: dict[dt.date, float], hindsight: list[dict],
              gate: dict, cbpe: dict, tuning: dict, meta: dict) -> dict:
    """The JSON document: the contract's keys first, then the detail."""
    periods = {"tune": tune, "report": report}
    peers = {label: _peers(results, period) for label, period in periods.items()}
    days = [s.day.isoformat() for s in next(iter(results.values())).served]
    doc = {
        "periods": {label: period.as_list() for label, period in periods.items()},
        "policies": [policy_row(r, periods, episodes, peers) for r in results.values()],
        "hindsight": hindsight,
        "gate": gate,
        "weekly": {label: weekly_peers(results, period) for label, period in periods.items()},
        "cbpe": cbpe,
        "tuning": tuning,
        "window_days": window_days, "holdout_days": holdout_days,
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
        },
        "meta": meta,
    }
    doc["target"] = verdict(doc)
    return doc


def verdict(doc: dict) -> dict | None:
    """The target, on the report period: production's mean daily AUC at least daily's minus
    `TARGET_DAILY_GAP`, with no more retrains than the best weekly schedule (stretch: half
    as many). None unless production, daily and the weekly schedules ran."""
    by = {p["name"]: p for p in doc["policies"]}
    weekly = doc.get("weekly", {}).get("report", {})
    if not {"production", "daily"} <= set(by) or not weekly:
        return None
    a, d, w = (by[n]["report"] for n in ("production", "daily", weekly["best"]))
    versus = a["vs"].get("daily", {})
    checks = {"within_daily": d["mean_auc"] - a["mean_auc"] <= TARGET_DAILY_GAP,
              "retrains_vs_best_weekly": a["retrains"] <= w["retrains"]}
    return {"met": all(checks.values()), "checks": checks,
            "stretch_half_retrains": a["retrains"] <= w["retrains"] / 2,
            "gap_to_daily": rounded(d["mean_auc"] - a["mean_auc"], 5),
            "vs_daily": versus, "best_weekly": weekly["best"],
            "retrains": a["retrains"], "best_weekly_retrains": w["retrains"]}
