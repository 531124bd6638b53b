"""The promotion gate: promote a candidate unless it is worse than the champion, with
confidence, on the same held-out days neither of them trained on.

A served model is judged by the day (the policies are compared on mean daily AUC, a champion
promises its mean per-day held-out AUC), and a day's flights move together: one weather
state, one delay regime. So the statistic is the mean over the held-out days of each day's
AUC(candidate) - AUC(champion), and its interval comes from a bootstrap that resamples whole
days (`block="day"`): the spread is the day-to-day spread of the difference, not the much
smaller one of a thousand flights pretending to be independent. The candidate is promoted
when the interval's lower bound is above `-tolerance`, no large slice (carrier, origin) is
confidently worse by more than `slice_tolerance` (each slice's bound from the same day
resamples, at a level corrected for the number of slices tested: Bonferroni), and absolute
sanity floors hold.

`block="flight"` with `slice_veto="point"` is the gate as it was before (a bootstrap of the
pooled AUC over flights, a veto on any slice's point estimate); `ct bench policies` keeps it
to measure what the change did. A pure function: the Dagster asset, the trigger policies and
the benchmarks all call exactly this.
"""

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ct_assets.core.evaluation import auc, log_loss


@dataclass(frozen=True)
class GateConfig:
    # Tuned on Feb-Jun 2013 by `ct bench policies` (docs/benchmarks/policies.json, "tuning"):
    tolerance: float = 0.002       # the candidate may be this much worse in AUC, at the bound
    confidence: float = 0.90       # two-sided interval of the paired bootstrap
    n_boot: int = 400
    slice_min_n: int = 300         # slices smaller than this are too noisy to veto
    slice_tolerance: float = 0.03  # a large slice may not lose more AUC than this
    floor_auc: float = 0.55        # never promote a model this close to chance
    max_log_loss: float = 0.69     # ... or worse calibrated than predicting a coin flip
    seed: int = 0
    block: str = "day"             # what the bootstrap resamples: "day" or "flight"
    slice_veto: str = "interval"   # "interval" (corrected bounds) or "point" (estimates)

    def __post_init__(self):
        if self.block not in ("day", "flight") or self.slice_veto not in ("interval", "point"):
            raise ValueError(f"block={self.block!r}, slice_veto={self.slice_veto!r}: "
                             "block is 'day' or 'flight', slice_veto 'interval' or 'point'")


# The gate before day blocks (kept to measure the change, `ct bench policies`).
FLIGHT_GATE = GateConfig(tolerance=0.002, block="flight", slice_veto="point")


@dataclass
class GateDecision:
    promote: bool
    forced: bool
    reason: str
    candidate_auc: float
    champion_auc: float | None
    delta_auc: float | None
    delta_low: float | None
    delta_high: float | None
    candidate_log_loss: float
    n: int
    slice_deltas: dict[str, float] = field(default_factory=dict)
    failed_slices: list[str] = field(default_factory=list)
    slice_bounds: dict[str, float] = field(default_factory=dict)  # corrected upper bounds
    config: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _bootstrap_auc_delta(y, p_new, p_old, config: GateConfig) -> np.ndarray:
    rng = np.random.default_rng(config.seed)
    n = len(y)
    deltas = np.empty(config.n_boot)
    for b in range(config.n_boot):
        idx = rng.integers(0, n, n)
        deltas[b] = auc(y[idx], p_new[idx]) - auc(y[idx], p_old[idx])
    return deltas[~np.isnan(deltas)]


def daily_deltas(y, p_new, p_old, days) -> np.ndarray:
    """AUC(new) - AUC(old) on each day (in order of first appearance; NaN for a day with one
    outcome class)."""
    days = np.asarray(days)
    return np.array([auc(y[days == d], p_new[days == d]) - auc(y[days == d], p_old[days == d])
                     for d in pd.unique(days)], dtype=float)


def day_resamples(n_days: int, config: GateConfig) -> np.ndarray:
    """`n_boot` resamples of `n_days` day indices, with replacement (the same for every
    statistic of one decision, so the overall and slice bounds are paired)."""
    return np.random.default_rng(config.seed).integers(0, n_days, (config.n_boot, n_days))


def resampled_means(per_day: np.ndarray, resamples: np.ndarray) -> np.ndarray:
    """The mean of the resampled days' values, days without a value skipped (a resample of
    such days only is dropped)."""
    values = per_day[resamples]
    if not np.isnan(values).any():
        return values.mean(axis=1)
    counts = (~np.isnan(values)).sum(axis=1)
    sums = np.nansum(values, axis=1)
    return sums[counts > 0] / counts[counts > 0]


def slice_tail(config: GateConfig, tested: int) -> float:
    """The one-sided level of each slice's bound: the interval's tail split over the slices
    tested (Bonferroni), so m slices together veto a candidate that is not worse anywhere
    with probability at most the tail."""
    return (1 - config.confidence) / 2 / max(tested, 1)


def _slices(decision: GateDecision, y, p_candidate, p_champion, slices, days, config,
            resamples) -> None:
    tested = []
    for name, labels in (slices or {}).items():
        labels = np.asarray(labels)
        tested += [(f"{name}={v}", labels == v) for v in np.unique(labels)
                   if (labels == v).sum() >= config.slice_min_n]
    tail = slice_tail(config, len(tested))
    for key, mask in tested:
        if config.slice_veto == "point":
            delta = auc(y[mask], p_candidate[mask]) - auc(y[mask], p_champion[mask])
            decision.slice_deltas[key] = float(delta)
            if delta < -config.slice_tolerance:
                decision.failed_slices.append(key)
            continue
        per_day = daily_deltas(y[mask], p_candidate[mask], p_champion[mask], days[mask])
        if np.isnan(per_day).all():
            continue
        decision.slice_deltas[key] = float(np.nanmean(per_day))
        day_index = {d: i for i, d in enumerate(pd.unique(days))}
        # the slice's days, located in the decision's day resamples
        own = np.full(len(day_index), np.nan)
        for d, value in zip(pd.unique(days[mask]), per_day, strict=True):
            own[day_index[d]] = value
        means = resampled_means(own, resamples)
        if not len(means):
            continue
        bound = float(np.quantile(means, 1 - tail))
        decision.slice_bounds[key] = bound
        if bound < -config.slice_tolerance:
            decision.failed_slices.append(key)


def decide(y: np.ndarray, p_candidate: np.ndarray, p_champion: np.ndarray | None,
           slices: dict[str, np.ndarray] | None = None, config: GateConfig = GateConfig(),
           force: bool = False, days: np.ndarray | None = None) -> GateDecision:
    """Decide whether the candidate replaces the champion. `days`: the held-out day of each
    flight (the bootstrap's blocks; needed unless `config.block == "flight"`). Every number
    used is returned."""
    y = np.asarray(y, dtype=bool)
    p_candidate = np.asarray(p_candidate, dtype=float)
    cand_auc, cand_ll = auc(y, p_candidate), log_loss(y, p_candidate)
    decision = GateDecision(promote=False, forced=force, reason="", candidate_auc=cand_auc,
                            champion_auc=None, delta_auc=None, delta_low=None, delta_high=None,
                            candidate_log_loss=cand_ll, n=int(len(y)), config=asdict(config))
    floors = []
    if not cand_auc >= config.floor_auc:
        floors.append(f"AUC {cand_auc:.4f} below the floor {config.floor_auc}")
    if not cand_ll <= config.max_log_loss:
        floors.append(f"log loss {cand_ll:.4f} above {config.max_log_loss}")

    if p_champion is not None:
        p_champion = np.asarray(p_champion, dtype=float)
        decision.champion_auc = auc(y, p_champion)
        tail = (1 - config.confidence) / 2
        resamples = None
        if config.block == "flight":
            decision.delta_auc = cand_auc - decision.champion_auc
            deltas = _bootstrap_auc_delta(y, p_candidate, p_champion, config)
        else:
            if days is None:
                raise ValueError("a day-block gate needs the held-out day of each flight")
            days = np.asarray(days)
            per_day = daily_deltas(y, p_candidate, p_champion, days)
            resamples = day_resamples(len(per_day), config)
            deltas = resampled_means(per_day, resamples)
            if not np.isnan(per_day).all():
                decision.delta_auc = float(np.nanmean(per_day))
        if len(deltas):
            decision.delta_low = float(np.quantile(deltas, tail))
            decision.delta_high = float(np.quantile(deltas, 1 - tail))
        _slices(decision, y, p_candidate, p_champion, slices, days, config, resamples)

    if force:
        decision.promote = True
        decision.reason = "forced promotion (gate bypassed by request)"
        return decision
    unit = "per-day " if config.block == "day" else ""
    if y.all() or not y.any() or (p_champion is not None and decision.delta_low is None):
        decision.reason = ("rejected: every held-out flight (or each held-out day) has the "
                           "same outcome, so AUC is undefined and the candidate cannot be judged")
    elif floors:
        decision.reason = "rejected: " + "; ".join(floors)
    elif p_champion is None:
        decision.promote = True
        decision.reason = "promoted: first model, above the sanity floors"
    elif decision.delta_low <= -config.tolerance:
        decision.reason = (f"rejected: {unit}AUC change {decision.delta_auc:+.4f}, "
                           f"{config.confidence:.0%} interval [{decision.delta_low:+.4f}, "
                           f"{decision.delta_high:+.4f}] reaches below -{config.tolerance}")
    elif decision.failed_slices:
        decision.reason = "rejected: slices regress beyond tolerance: " + ", ".join(
            f"{k} ({decision.slice_deltas[k]:+.4f})" for k in decision.failed_slices)
    else:
        decision.promote = True
        decision.reason = (f"promoted: {unit}AUC change {decision.delta_auc:+.4f}, "
                           f"{config.confidence:.0%} interval [{decision.delta_low:+.4f}, "
                           f"{decision.delta_high:+.4f}] above -{config.tolerance}")
    return decision
