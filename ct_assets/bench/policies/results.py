"""What a policy did: the retrains it requested with the gate's verdicts, and the days it
served with the signals seen after each."""

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
    delta_low: float | None
    gate_reason: str
    fit_cpu_s: float
    gate_cpu_s: float
    lead_days: int | None = None
    thresholds_before: tuple[float, float] | None = None
    thresholds_after: tuple[float, float] | None = None

    @property
    def auc_gain(self) -> float | None:
        return None if self.champion_auc is None else self.candidate_auc - self.champion_auc

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
    drift_threshold: float | None = None
    performance_threshold: float | None = None
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
        return sum(r.cpu_s for r in self.retrains)


def mean(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


def quantile(values: list[float], q: float) -> float:
    import numpy as np

    values = [v for v in values if not math.isnan(v)]
    return float(np.quantile(values, q)) if values else math.nan
