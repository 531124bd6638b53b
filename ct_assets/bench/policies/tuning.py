"""Tuning, on the tune period only, by rules fixed before any result was seen.

Every parameter of the production policy is chosen on the tune period (February - June by
default) and the report period (July - December) is replayed untuned:

1. The schedules' gate: each schedule (the peers production is compared with) is replayed
   with each tolerance of `GATE_TOLERANCES`; each keeps the tolerance with its highest
   tune-period mean daily AUC (ties: the smaller tolerance), so every peer runs at its best.
2. Production: `SETTINGS` settings drawn at random (seed `SEED`) from `SPACE` (the gate's
   tolerance is one of its dimensions), plus the previous production defaults, are replayed.
   Eligible are the settings whose tune-period retrains are no more than those of the best
   weekly schedule of the tune period (the weekday with the highest tune-period mean AUC);
   the eligible setting with the highest tune-period mean daily AUC is chosen (ties: fewer
   retrains, then the grid order).

`choose_*` refuse results that reach into the report period (`PeriodError`): a parameter
chosen from report-period data is an error, not a warning.
"""

import datetime as dt
import math
import random
from dataclasses import dataclass, replace

from ct_assets.bench.policies.results import PolicyResult
from ct_assets.bench.policies.specs import OFF, PolicySpec, production_spec
from ct_assets.core.gate import GateConfig

GATE_TOLERANCES = (0.0, 0.002, 0.005, 0.01, 0.02, 0.04, 1.0)
SEED = 13
SETTINGS = 150
SPACE = {
    "tolerance": GATE_TOLERANCES,
    "refit": (0.005, 0.01, 0.015, 0.02, 0.03, math.inf),
    "refit_smoothing": (1, 3, 5),
    "drift": (0.6, 0.8, 1.2, math.inf),
    "performance": (0.02, 0.04, math.inf),
    "estimate": (0.02, 0.04, math.inf),
    "horizon": (0, 3),
    "cooldown_days": (2, 3, 5, 7),
    "max_age_days": (7, 14, 28, OFF),
    "feedback": (True, False),
}
PREVIOUS = {"tolerance": 0.002, "refit": math.inf, "refit_smoothing": 3, "drift": 0.8,
            "performance": 0.04, "estimate": math.inf, "horizon": 3, "cooldown_days": 3,
            "max_age_days": 14, "feedback": True}
RULES = {
    "gate": "each schedule keeps the gate tolerance with its highest tune-period mean daily "
            f"AUC, among {list(GATE_TOLERANCES)} (ties: the smaller)",
    "policy": f"{SETTINGS} settings drawn at random (seed {SEED}) from the space below, plus "
              "the previous production defaults; eligible: tune-period retrains <= those of "
              "the best weekly schedule of the tune period; chosen: the highest tune-period "
              "mean daily AUC (ties: fewer retrains, then the grid order)",
}


class PeriodError(ValueError):
    """A choice was about to be made from days outside the tune period."""


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date

    def as_list(self) -> list[str]:
        return [self.start.isoformat(), self.end.isoformat()]


def only_tune_period(results: dict[str, PolicyResult], tune: Period) -> None:
    """Refuse results holding any day or retrain outside the tune period."""
    for name, result in results.items():
        days = [s.day for s in result.served] + [r.day for r in result.retrains]
        outside = sorted(d for d in days if not tune.start <= d < tune.end)
        if outside:
            raise PeriodError(f"{name} holds {outside[0]}, outside the tune period "
                              f"{tune.start} .. {tune.end}: parameters are chosen from the "
                              "tune period only")


def gate_grid(schedules: list[PolicySpec]) -> list[PolicySpec]:
    return [replace(spec, name=f"{spec.name}@{t:g}", gate=GateConfig(tolerance=t),
                    description=f"{spec.description}, gate tolerance {t:g}")
            for spec in schedules for t in GATE_TOLERANCES]


def choose_gates(results: dict[str, PolicyResult], tune: Period
                 ) -> tuple[dict[str, GateConfig], dict[str, list]]:
    """Rule 1: per schedule, its gate and the table it was chosen from."""
    only_tune_period(results, tune)
    rows: dict[str, list] = {}
    for name, result in results.items():
        rows.setdefault(name.split("@")[0], []).append(
            {"tolerance": result.spec.gate.tolerance, **result.figures()})
    chosen = {name: GateConfig(tolerance=max(table, key=lambda r: (r["mean_auc"],
                                                                   -r["tolerance"]))
                               ["tolerance"]) for name, table in rows.items()}
    return chosen, rows


def settings() -> list[dict]:
    """The previous defaults, then `SETTINGS` draws from `SPACE` (no duplicates)."""
    rng = random.Random(SEED)
    out, seen = [dict(PREVIOUS)], {tuple(PREVIOUS.items())}
    while len(out) < SETTINGS + 1:
        setting = {k: rng.choice(v) for k, v in SPACE.items()}
        if tuple(setting.items()) not in seen:
            seen.add(tuple(setting.items()))
            out.append(setting)
    return out


def policy_grid() -> dict[str, tuple[PolicySpec, dict]]:
    out = {}
    for i, setting in enumerate(settings()):
        rest = {k: v for k, v in setting.items() if k != "tolerance"}
        name = f"setting-{i:03d}"
        out[name] = (production_spec(name, describe(setting),
                                     gate=GateConfig(tolerance=setting["tolerance"]), **rest),
                     setting)
    return out


def describe(setting: dict) -> str:
    return ", ".join(f"{k}={'off' if v in (math.inf, OFF) else v}" for k, v in setting.items())


def choose_policy(results: dict[str, PolicyResult], weekly: dict[str, PolicyResult],
                  tune: Period) -> tuple[str, dict]:
    """The setting of rule 2 and what it was chosen from."""
    only_tune_period(results, tune)
    only_tune_period(weekly, tune)
    best_weekly = max(weekly.values(), key=lambda r: r.mean_auc())
    limit = len(best_weekly.retrains)
    rows = [{"name": name, **r.figures()} for name, r in results.items()]
    eligible = [(i, row) for i, row in enumerate(rows) if row["retrains"] <= limit]
    if not eligible:
        raise ValueError(f"no setting retrains at most {limit} times on the tune period")
    _, best = max(eligible, key=lambda ir: (ir[1]["mean_auc"], -ir[1]["retrains"], -ir[0]))
    return best["name"], {"best_weekly": best_weekly.spec.name, "max_retrains": limit,
                          "eligible": len(eligible), "rows": rows}
