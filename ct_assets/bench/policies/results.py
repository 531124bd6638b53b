"""What a policy did: the retrains it requested with the gate's verdicts, and the days it
served with the signals seen after each; its figures over a period."""

import datetime as dt
import math
from dataclasses import dataclass, field

from ct_assets.bench.policies.specs import PolicySpec


@dataclass
class Retrain:
    """One retrain requested by a policy and the gate's verdict."""

    day: dt.date                      # the day the candidate was trained for
    kinds: list[str]
    reasons: list[str]
    promoted: bool
    candidate_auc: float
    champion_auc: float | None
    delta_auc: float | None           # the gate's statistic (mean per-day AUC change)
    delta_low: float | None
    gate_reason: str
    fit_cpu_s: float
    gate_cpu_s: float
    lead_days: int | None = None
    champion_day: dt.date | None = None   # the champion it was judged against
    verdicts: dict[str, bool] = field(default_factory=dict)   # of the spec's compare_gates

    @property
    def cpu_s(self) -> float:
        return self.fit_cpu_s + self.gate_cpu_s


@dataclass
class Served:
    """One served day: the model that served it and the signals observed once it ended."""

    day: dt.date
    model_day: dt.date                # the day the serving model was trained for
    auc: float
    n: int
    drift: float
    drop: float
    estimated_auc: float = math.nan   # CBPE of the day (no labels), its stated error
    estimated_sd: float = math.nan
    estimated_drop: float | None = None
    refit_gain: float = math.nan      # the cheap refit's AUC minus the champion's
    monitor_cpu_s: float = 0.0        # the refit's CPU, for a policy that uses it
    drift_threshold: float | None = None
    performance_threshold: float | None = None
    refit_threshold: float | None = None
    requested: list[str] = field(default_factory=list)   # kinds of a retrain asked for day+1
    suppressed: bool = False          # a reason fired inside the cooldown


@dataclass
class PolicyResult:
    spec: PolicySpec
    served: list[Served] = field(default_factory=list)
    retrains: list[Retrain] = field(default_factory=list)

    @property
    def aucs(self) -> list[float]:
        return [s.auc for s in self.served]

    def mean_auc(self) -> float:
        return mean(self.aucs)

    def p10_auc(self) -> float:
        return quantile(self.aucs, 0.10)

    @property
    def promotions(self) -> int:
        return sum(r.promoted for r in self.retrains)

    @property
    def cpu_s(self) -> float:
        return sum(r.cpu_s for r in self.retrains) + sum(s.monitor_cpu_s for s in self.served)

    def within(self, start: dt.date, end: dt.date) -> "PolicyResult":
        """The same policy's days and retrains of [start, end) only."""
        return PolicyResult(self.spec, [s for s in self.served if start <= s.day < end],
                            [r for r in self.retrains if start <= r.day < end])

    def figures(self) -> dict:
        """mean_auc, p10_auc, retrains, promotions, cpu_s (the JSON contract's keys)."""
        return {"mean_auc": rounded(self.mean_auc(), 5), "p10_auc": rounded(self.p10_auc(), 5),
                "retrains": len(self.retrains), "promotions": self.promotions,
                "cpu_s": round(self.cpu_s, 2)}


def rounded(value: float | None, digits: int = 4) -> float | None:
    """`value` rounded for the JSON; None for None and NaN."""
    return None if value is None or math.isnan(value) else round(float(value), digits)


def mean(values: list[float]) -> float:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


def quantile(values: list[float], q: float) -> float:
    import numpy as np

    values = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.quantile(values, q)) if values else math.nan
