"""Retrain policy: when the data says a new model is due. Pure functions, shared by the trigger
sensors and the policy benchmark, so what is benchmarked is what runs.

Signals, one value per served day: a drift score (severity, 1 = the threshold of the drift
detector) and a performance drop (the champion's AUC on a labelled day subtracted from its own
held-out AUC). A retrain is due when
- reactive: the latest drift or drop crosses its threshold;
- predictive: a Holt (level + trend) forecast of either series crosses the threshold within
  `horizon` days, so the retrain starts before the observed series does;
- stale: the champion is older than `max_age_days`;
and never inside the cooldown after a retrain. The thresholds learn from outcomes, within bounds:
up after retrains that did not help, down when performance fell with no trigger.
"""

import math
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Forecast:
    mean: list[float]
    low: list[float]
    high: list[float]


def holt_forecast(series: list[float], horizon: int, alpha: float = 0.5, beta: float = 0.3,
                  z: float = 1.28) -> Forecast:
    """Holt's linear exponential smoothing, with an interval from the one-step residuals.

    The interval widens with the square root of the horizon; `z` = 1.28 is a two-sided 80%
    interval. Needs at least 3 points; NaNs (days without a value) are skipped.
    """
    values = [v for v in series if v is not None and not math.isnan(v)]
    if len(values) < 3:
        raise ValueError(f"a forecast needs at least 3 observations, got {len(values)}")
    level, trend = values[0], values[1] - values[0]
    residuals = []
    for value in values[1:]:
        predicted = level + trend
        residuals.append(value - predicted)
        previous = level
        level = alpha * value + (1 - alpha) * (level + trend)
        trend = beta * (level - previous) + (1 - beta) * trend
    scale = math.sqrt(sum(r * r for r in residuals) / len(residuals))
    mean = [level + h * trend for h in range(1, horizon + 1)]
    spread = [z * scale * math.sqrt(h) for h in range(1, horizon + 1)]
    return Forecast(mean=mean, low=[m - s for m, s in zip(mean, spread, strict=True)],
                    high=[m + s for m, s in zip(mean, spread, strict=True)])


def first_crossing(forecast: Forecast, threshold: float, *, upper: bool = False) -> int | None:
    """Days ahead (1-based) at which the forecast mean (or its upper bound) reaches the
    threshold, or None within the horizon."""
    path = forecast.high if upper else forecast.mean
    for ahead, value in enumerate(path, start=1):
        if value >= threshold:
            return ahead
    return None


@dataclass(frozen=True)
class Thresholds:
    drift: float = 1.0            # drift severity (1 = the detector's own alarm level)
    performance: float = 0.02     # AUC points below the champion's held-out AUC
    min_drift: float = 0.6
    max_drift: float = 3.0
    min_performance: float = 0.01
    max_performance: float = 0.06


@dataclass(frozen=True)
class PolicyConfig:
    horizon: int = 3              # days the predictive trigger looks ahead
    history: int = 14             # days of each series the forecast is fitted on
    cooldown_days: int = 3        # no new retrain while the last one is this fresh
    max_age_days: int = 14        # a champion older than this is stale
    use_upper_bound: bool = False
    raise_factor: float = 1.15    # after a retrain that did not help
    lower_factor: float = 0.9     # after a performance drop that no trigger caught
    min_gain: float = 0.002       # AUC gain that counts as "helped"


@dataclass
class TriggerDecision:
    retrain: bool
    reasons: list[str] = field(default_factory=list)
    lead_days: int | None = None      # for a predictive trigger: days before the forecast crossing
    suppressed_by_cooldown: bool = False


def decide(drift: list[float], drop: list[float], thresholds: Thresholds,
           config: PolicyConfig = PolicyConfig(), days_since_retrain: int | None = None,
           champion_age_days: int | None = None) -> TriggerDecision:
    """Should a retrain be requested for the next day? `drift` and `drop` end with today."""
    reasons, lead = [], None
    if drift and drift[-1] >= thresholds.drift:
        reasons.append(f"drift {drift[-1]:.2f} >= {thresholds.drift:.2f}")
    if drop and drop[-1] >= thresholds.performance:
        reasons.append(f"performance drop {drop[-1]:.4f} >= {thresholds.performance:.4f}")
    if not reasons:
        for name, series, limit in (("drift", drift, thresholds.drift),
                                    ("performance drop", drop, thresholds.performance)):
            recent = series[-config.history:]
            if len([v for v in recent if not math.isnan(v)]) < 3:
                continue
            forecast = holt_forecast(recent, config.horizon)
            ahead = first_crossing(forecast, limit, upper=config.use_upper_bound)
            if ahead is not None:
                reasons.append(f"{name} forecast to cross {limit:.4g} in {ahead} day(s)")
                lead = ahead if lead is None else min(lead, ahead)
    if champion_age_days is not None and champion_age_days > config.max_age_days:
        reasons.append(f"champion is {champion_age_days} days old (> {config.max_age_days})")
    decision = TriggerDecision(retrain=bool(reasons), reasons=reasons, lead_days=lead)
    if decision.retrain and days_since_retrain is not None \
            and days_since_retrain < config.cooldown_days:
        decision.retrain, decision.suppressed_by_cooldown = False, True
    return decision


@dataclass(frozen=True)
class Outcome:
    """What one retrain (or one missed drop) taught the policy."""

    triggered: bool               # a retrain was requested
    promoted: bool = False
    auc_gain: float = 0.0         # candidate - champion on the held-out days
    drift_reason: bool = False
    performance_reason: bool = False
    unnoticed_drop: float = 0.0   # performance drop observed while no trigger fired


def adjust(thresholds: Thresholds, outcome: Outcome,
           config: PolicyConfig = PolicyConfig()) -> Thresholds:
    """Learn from one outcome, within the bounds of `thresholds`.

    A retrain that did not help (not promoted, or gained less than `min_gain`) raises the
    thresholds of the signals that caused it; a drop bigger than the performance threshold that
    no trigger caught lowers both.
    """
    drift, perf = thresholds.drift, thresholds.performance
    if outcome.triggered and (not outcome.promoted or outcome.auc_gain < config.min_gain):
        if outcome.drift_reason:
            drift *= config.raise_factor
        if outcome.performance_reason:
            perf *= config.raise_factor
    if not outcome.triggered and outcome.unnoticed_drop >= thresholds.performance:
        drift *= config.lower_factor
        perf *= config.lower_factor
    return replace(thresholds,
                   drift=min(max(drift, thresholds.min_drift), thresholds.max_drift),
                   performance=min(max(perf, thresholds.min_performance),
                                   thresholds.max_performance))
