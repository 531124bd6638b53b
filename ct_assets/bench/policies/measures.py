"""What the policies are measured against, beside their own AUC: the model x day matrix of the
hindsight ceiling, the gate's errors judged by what each candidate then did in the shadow of
the champion, and how well CBPE estimated the AUC and how early its signal came."""

import datetime as dt
import math

import numpy as np

from ct_assets.bench.policies.episodes import Episode
from ct_assets.bench.policies.results import PolicyResult, Served, rounded
from ct_assets.bench.policies.tuning import Period
from ct_assets.core import walk
from ct_assets.core.gate import GateConfig

Z90 = 1.645                        # a two-sided 90% interval of a normal error
ALARM_SHARE = 0.10                 # each signal's alarm level: exceeded on 10% of ordinary days
DETECT_BEFORE, DETECT_AFTER = 3, 14   # days around an episode's onset a detection counts


def matrix(aucs: dict[tuple[dt.date, dt.date], float], days: list[dt.date]) -> np.ndarray:
    """`aucs[(m, d)]` as a square array over `days` (NaN where a model has no score)."""
    index = {d: i for i, d in enumerate(days)}
    out = np.full((len(days), len(days)), np.nan)
    for (m, d), value in aucs.items():
        if m in index and d in index and m <= d:
            out[index[m], index[d]] = value
    return out


def _rates(rows: list[tuple[bool, float]]) -> dict:
    """False reject / accept among candidates that then did better / worse than the champion."""
    better = [promoted for promoted, gain in rows if gain > 0]
    worse = [promoted for promoted, gain in rows if gain < 0]
    rejected_better, accepted_worse = better.count(False), worse.count(True)
    return {"false_reject": rounded(rejected_better / len(better)) if better else None,
            "false_accept": rounded(accepted_worse / len(worse)) if worse else None,
            "rejected_better": rejected_better, "better": len(better),
            "accepted_worse": accepted_worse, "worse": len(worse),
            "promoted": sum(p for p, _ in rows), "candidates": len(rows)}


def gate_errors(daily: PolicyResult, signals: walk.Signals, tune: Period, report: Period,
                before: GateConfig, after: GateConfig) -> dict:
    """The gate before (`before`) and after (`after`, production's), both run on each
    candidate of the daily policy against the champion it was judged against (the daily
    policy's `compare_gates`): a false reject is a rejected candidate whose mean daily AUC
    over its first `feedback_days` served days beat the champion's, a false accept a
    promoted one that did worse. Rates are shares of the candidates that did better (resp.
    worse)."""
    days = daily.spec.feedback_days
    out = {"definition": f"on the daily policy's candidates, each against the champion it was "
                         f"judged against: realised gain = mean daily AUC difference over "
                         f"its first {days} served days (scored in the shadow); false_reject "
                         f"= rejected among those with a gain > 0, false_accept = promoted "
                         f"among those with a gain < 0",
           "before": {"config": _gate(before)}, "after": {"config": _gate(after)}}
    for label, period in (("tune", tune), ("report", report)):
        rows = {"before": [], "after": []}
        for r in daily.retrains:
            last = r.day + dt.timedelta(days=days - 1)
            if r.champion_day is None or not r.verdicts \
                    or not period.start <= r.day or last >= period.end:
                continue
            gain = walk.realised_gain(signals.shadow.get(r.day, {}), r.day, days)
            if gain is None:
                continue
            for which in ("before", "after"):
                rows[which].append((r.verdicts[which], gain))
        for which in ("before", "after"):
            out[which][label] = _rates(rows[which])
    for which in ("before", "after"):                # the contract's keys: the report period
        out[which]["false_reject"] = out[which]["report"]["false_reject"]
        out[which]["false_accept"] = out[which]["report"]["false_accept"]
    return out


def _gate(config: GateConfig) -> dict:
    return {"block": config.block, "slice_veto": config.slice_veto,
            "tolerance": config.tolerance, "confidence": config.confidence}


def _smoothed(served: list[Served], field: str, days: int = 3) -> dict[dt.date, float]:
    values = [getattr(s, field) for s in served]
    values = [math.nan if v is None else v for v in values]
    out = {}
    for i, s in enumerate(served):
        window = [v for v in values[max(0, i - days + 1): i + 1] if not math.isnan(v)]
        out[s.day] = sum(window) / len(window) if window else math.nan
    return out


def _first(series: dict[dt.date, float], level: float, onset: dt.date) -> dt.date | None:
    for k in range(-DETECT_BEFORE, DETECT_AFTER + 1):
        day = onset + dt.timedelta(days=k)
        if series.get(day, math.nan) >= level:
            return day
    return None


def cbpe_quality(result: PolicyResult, episodes: list[Episode], tune: Period,
                 report: Period) -> dict:
    """CBPE's error against the realised AUC on the days `result` served (its champions'
    scores), and its lead over the label-based signal in the drift episodes."""
    out = {}
    for label, period in (("tune", tune), ("report", report)):
        days = [s for s in result.served if period.start <= s.day < period.end
                and not math.isnan(s.estimated_auc) and not math.isnan(s.auc)]
        if not days:
            continue
        error = np.array([s.estimated_auc - s.auc for s in days])
        sd = np.array([s.estimated_sd for s in days])
        drops = [(s.estimated_drop, s.drop) for s in days if s.estimated_drop is not None]
        out[label] = {
            "days": len(days), "mae": rounded(float(np.abs(error).mean())),
            "bias": rounded(float(error.mean())), "error_sd": rounded(float(error.std())),
            "stated_sd": rounded(float(sd.mean())),
            "coverage90": rounded(float(np.mean(np.abs(error) <= Z90 * sd))),
            "corr_auc": rounded(float(np.corrcoef([s.estimated_auc for s in days],
                                                  [s.auc for s in days])[0, 1])),
            "corr_drop": rounded(float(np.corrcoef(*zip(*drops, strict=True))[0, 1]))
            if len(drops) > 2 else None}
    out["lead"] = _lead(result, episodes, tune, report)
    return out


def _lead(result: PolicyResult, episodes: list[Episode], tune: Period, report: Period) -> dict:
    """Days by which each signal's first alarm in an episode precedes the label-based drop's.
    Alarm levels: each signal's (1 - ALARM_SHARE) quantile on the tune period's days outside
    episodes, so every signal alarms equally often on ordinary days."""
    inside = {e.onset + dt.timedelta(days=i) for e in episodes for i in range(e.days)}
    series = {"performance": _smoothed(result.served, "drop"),
              "estimate": _smoothed(result.served, "estimated_drop"),
              "refit": _smoothed(result.served, "refit_gain")}
    levels = {}
    for name, values in series.items():
        ordinary = [v for d, v in values.items()
                    if tune.start <= d < tune.end and d not in inside and not math.isnan(v)]
        levels[name] = float(np.quantile(ordinary, 1 - ALARM_SHARE)) if ordinary else math.inf
    out = {"definition": f"per drift episode: days from the first alarm of the label-based "
                         f"3-day performance drop to the first alarm of the signal (positive: "
                         f"the signal is earlier), alarms within {DETECT_BEFORE} days before "
                         f".. {DETECT_AFTER} after the onset; each signal's alarm level is "
                         f"its {1 - ALARM_SHARE:.0%} quantile on the tune period's ordinary "
                         f"days (3-day means, against the production champion)",
           "levels": {k: rounded(v, 5) for k, v in levels.items()}}
    for label, period in (("tune", tune), ("report", report)):
        rows = []
        for episode in (e for e in episodes if period.start <= e.onset < period.end):
            first = {n: _first(series[n], levels[n], episode.onset) for n in series}
            rows.append({"onset": episode.onset.isoformat(),
                         **{n: None if d is None else (d - episode.onset).days
                            for n, d in first.items()}})
        summary = {"episodes": len(rows)}
        for name in ("estimate", "refit"):
            leads = [r["performance"] - r[name] for r in rows
                     if r["performance"] is not None and r[name] is not None]
            summary[name] = {"detected": sum(r[name] is not None for r in rows),
                             "median_lead_days": float(np.median(leads)) if leads else None,
                             "both_detected": len(leads)}
        summary["performance"] = {"detected": sum(r["performance"] is not None for r in rows)}
        out[label] = {"summary": summary, "episodes": rows}
    return out
