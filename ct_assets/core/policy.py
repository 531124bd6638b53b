"""Retrain policy: when the data says a new model is due. Pure functions, shared by the trigger
sensors and the policy benchmark, so what is benchmarked is what runs.

Signals, one value per served day: a drift score (severity, 1 = the threshold of the drift
detector) and a performance drop (the champion's AUC on a labelled day subtracted from what it
promised: the mean of its per-day AUCs on its held-out days), judged as the trailing mean of
`performance_smoothing` days because one day's AUC on ~900 labelled flights moves by about 0.02
by chance alone. A retrain is due when
- reactive: the latest drift or (smoothed) drop crosses its threshold;
- predictive: a Holt (level + trend) forecast of either series crosses the threshold within
  `horizon` days, so the retrain starts before the observed series does;
- stale: there is no champion, or it was last confirmed (promoted, or defended against a
  candidate at the gate) more than `max_age_days` ago;
and never inside the cooldown after a retrain. The thresholds learn from outcomes, within bounds:
up after retrains that did not help, down when a retrain finds performance had fallen and the
signal did not fire.

The defaults come from `ct bench policies` on 2013 (docs/benchmarks/policies.md).
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
    drift: float = 0.8            # drift score (1 = the detector's own alarm level); below 1:
                                  # on 2013 a retrain pays before the detector alarms
    performance: float = 0.04     # AUC points below the champion's promise (smoothed)
    estimate: float = math.inf    # CBPE: estimated AUC points below the estimate's promise
    refit: float = math.inf       # AUC of a cheap refit on the newest labelled days minus
                                  # the champion's, on the newest labelled day (smoothed)
    min_drift: float = 0.6
    max_drift: float = 3.0
    min_performance: float = 0.01
    max_performance: float = 0.06
    min_estimate: float = 0.005
    max_estimate: float = 0.06
    min_refit: float = 0.005
    max_refit: float = 0.06


@dataclass(frozen=True)
class PolicyConfig:
    horizon: int = 3              # days the predictive trigger looks ahead
    history: int = 14             # days of each series the forecast is fitted on
    cooldown_days: int = 3        # no new retrain while the last one is this fresh
    max_age_days: int = 14        # a champion not confirmed for longer than this is stale
    performance_smoothing: int = 3  # days averaged in the performance series
    refit_smoothing: int = 3      # ... in the refit series
    estimate_smoothing: int = 3   # ... in the estimated (CBPE) series
    use_upper_bound: bool = False
    feedback: bool = True         # learn the thresholds from what retrains bought
    feedback_days: int = 7        # a retrain's realised gain: its first days in the shadow
    raise_factor: float = 1.15    # after a retrain that did not help
    lower_factor: float = 0.9     # after a big gain that a signal did not see coming
    min_gain: float = 0.002       # realised AUC gain that counts as "helped"
    big_gain: float = 0.01        # realised AUC gain that says the champion had fallen behind

    @property
    def lookback(self) -> int:
        """Days of each series `decide` needs, ending with the day judged."""
        return self.history + max(self.performance_smoothing, self.refit_smoothing,
                                  self.estimate_smoothing) - 1


# What can trigger a retrain. The signal kinds have thresholds the feedback loop tunes;
# `stale`, `scheduled` and `manual` are the backstops.
SIGNALS = ("drift", "performance", "estimate", "refit")
SIGNAL_KINDS = ("drift", "performance", "predicted_drift", "predicted_performance", "estimate",
                "refit")
KINDS = (*SIGNAL_KINDS, "stale", "scheduled", "manual")
_LABELS = {"drift": "drift", "performance": "performance drop",
           "estimate": "estimated performance drop", "refit": "refit gain"}


@dataclass
class TriggerDecision:
    retrain: bool
    reasons: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)   # one of KINDS per reason
    lead_days: int | None = None      # for a predictive trigger: days before the forecast crossing
    suppressed_by_cooldown: bool = False


def _fmt(name: str, value: float) -> str:
    return f"{value:.2f}" if name == "drift" else f"{value:.4f}"


def decide(drift: list[float], drop: list[float], thresholds: Thresholds,
           config: PolicyConfig = PolicyConfig(), days_since_retrain: int | None = None,
           champion_age_days: int | None = None, *, estimate: list[float] | None = None,
           refit: list[float] | None = None) -> TriggerDecision:
    """Should a retrain be requested for the next day? Every series ends with today (NaN
    where a day has no value, e.g. its labels are not in yet); `drop`, `estimate` and `refit`
    are raw, they are smoothed here (pass `config.lookback` days to smooth the oldest days of
    the forecast fully). `champion_age_days`: days since the champion was last confirmed."""
    reasons, kinds, lead = [], [], None
    series = {
        "drift": drift,
        "performance": trailing_mean(drop, config.performance_smoothing),
        "estimate": trailing_mean(estimate or [], config.estimate_smoothing),
        "refit": trailing_mean(refit or [], config.refit_smoothing),
    }
    for name in SIGNALS:
        values, limit = series[name], getattr(thresholds, name)
        if values and not math.isnan(values[-1]) and values[-1] >= limit:
            reasons.append(f"{_LABELS[name]} {_fmt(name, values[-1])} >= {_fmt(name, limit)}")
            kinds.append(name)
    if not reasons:
        for name in ("drift", "performance"):
            recent, limit = series[name][-config.history:], getattr(thresholds, name)
            if config.horizon < 1 or len([v for v in recent if not math.isnan(v)]) < 3:
                continue
            forecast = holt_forecast(recent, config.horizon)
            ahead = first_crossing(forecast, limit, upper=config.use_upper_bound)
            if ahead is not None:
                reasons.append(f"{_LABELS[name]} forecast to cross {limit:.4g} in {ahead} day(s)")
                kinds.append(f"predicted_{name}")
                lead = ahead if lead is None else min(lead, ahead)
    if champion_age_days is None or champion_age_days > config.max_age_days:
        reasons.append("no champion yet" if champion_age_days is None else
                       f"champion last confirmed {champion_age_days} days ago "
                       f"(> {config.max_age_days})")
        kinds.append("stale")
    decision = TriggerDecision(retrain=bool(reasons), reasons=reasons, kinds=kinds,
                               lead_days=lead)
    if decision.retrain and days_since_retrain is not None \
            and days_since_retrain < config.cooldown_days:
        decision.retrain, decision.suppressed_by_cooldown = False, True
    return decision


def trailing_mean(series: list[float], days: int) -> list[float]:
    """Each value replaced by the mean of the values of its last `days` days (NaNs skipped);
    a day without a value stays NaN: smoothing adds no observation."""
    out = []
    for i, value in enumerate(series):
        window = [v for v in series[max(0, i - days + 1): i + 1] if not math.isnan(v)]
        out.append(math.nan if math.isnan(value) else sum(window) / len(window))
    return out


@dataclass(frozen=True)
class Outcome:
    """What one retrain taught the policy: why it ran and what it bought. `auc_gain` is the
    candidate's realised gain: its mean daily AUC minus the champion's it was judged against,
    over its first days in the shadow (promoted or not: a rejected candidate that would have
    won says the trigger was right and the gate wrong)."""

    kinds: frozenset[str]         # why the retrain ran (KINDS)
    auc_gain: float = 0.0


def _signal(kind: str) -> str:
    return kind.removeprefix("predicted_")


def _bounded(thresholds: Thresholds, name: str, value: float) -> float:
    if math.isinf(getattr(thresholds, name)):
        return getattr(thresholds, name)          # a signal turned off stays off
    return min(max(value, getattr(thresholds, f"min_{name}")),
               getattr(thresholds, f"max_{name}"))


def adjust(thresholds: Thresholds, outcome: Outcome,
           config: PolicyConfig = PolicyConfig()) -> Thresholds:
    """Learn from one retrain's realised gain, within the bounds of `thresholds`.

    - A retrain that bought less than `min_gain` raises the threshold of each signal that
      caused it: it fired for nothing.
    - A retrain that bought `big_gain` or more lowers the threshold of each signal that did
      *not* fire: the champion had fallen behind and that signal missed it (a scheduled or
      stale retrain that finds a big gain lowers them all).
    """
    fired = {_signal(k) for k in outcome.kinds if k in SIGNAL_KINDS}
    factor = dict.fromkeys(SIGNALS, 1.0)
    if outcome.auc_gain < config.min_gain:
        for signal in fired:
            factor[signal] = config.raise_factor
    elif outcome.auc_gain >= config.big_gain:
        for signal in set(SIGNALS) - fired:
            factor[signal] = config.lower_factor
    return replace(thresholds, **{name: _bounded(thresholds, name,
                                                 getattr(thresholds, name) * factor[name])
                                  for name in SIGNALS})


def learn(initial: Thresholds, outcomes: list[Outcome],
          config: PolicyConfig = PolicyConfig()) -> Thresholds:
    """The thresholds after learning from `outcomes` in order (none without `feedback`)."""
    thresholds = initial
    if config.feedback:
        for outcome in outcomes:
            thresholds = adjust(thresholds, outcome, config)
    return thresholds
