"""The promotion gate: promote a candidate only if it is not worse than the champion, with
confidence, on the same held-out flights neither of them trained on.

The bar is the champion's own performance on those days, not a fixed number: a paired
bootstrap over the held-out flights gives a confidence interval of AUC(candidate) -
AUC(champion); the candidate is promoted when the interval's lower bound is above
`-tolerance`, no large slice (carrier, origin) loses more than `slice_tolerance`, and absolute
sanity floors hold. A pure function: the Dagster asset, the trigger policies and the
benchmarks all call exactly this.
"""

from dataclasses import asdict, dataclass, field

import numpy as np

from ct_assets.core.evaluation import auc, log_loss


@dataclass(frozen=True)
class GateConfig:
    tolerance: float = 0.002       # the candidate may be this much worse in AUC, at the bound
    confidence: float = 0.90       # two-sided interval of the paired bootstrap
    n_boot: int = 400
    slice_min_n: int = 300         # slices smaller than this are too noisy to veto
    slice_tolerance: float = 0.03  # a large slice may not lose more AUC than this
    floor_auc: float = 0.55        # never promote a model this close to chance
    max_log_loss: float = 0.69     # ... or worse calibrated than predicting a coin flip
    seed: int = 0


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


def decide(y: np.ndarray, p_candidate: np.ndarray, p_champion: np.ndarray | None,
           slices: dict[str, np.ndarray] | None = None, config: GateConfig = GateConfig(),
           force: bool = False) -> GateDecision:
    """Decide whether the candidate replaces the champion. Every number used is returned."""
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
        champ_auc = auc(y, p_champion)
        deltas = _bootstrap_auc_delta(y, p_candidate, p_champion, config)
        tail = (1 - config.confidence) / 2
        decision.champion_auc = champ_auc
        decision.delta_auc = cand_auc - champ_auc
        if len(deltas):
            decision.delta_low = float(np.quantile(deltas, tail))
            decision.delta_high = float(np.quantile(deltas, 1 - tail))
        for name, labels in (slices or {}).items():
            labels = np.asarray(labels)
            for value in np.unique(labels):
                mask = labels == value
                if mask.sum() < config.slice_min_n:
                    continue
                delta = auc(y[mask], p_candidate[mask]) - auc(y[mask], p_champion[mask])
                key = f"{name}={value}"
                decision.slice_deltas[key] = float(delta)
                if delta < -config.slice_tolerance:
                    decision.failed_slices.append(key)

    if force:
        decision.promote = True
        decision.reason = "forced promotion (gate bypassed by request)"
        return decision
    if y.all() or not y.any():
        decision.reason = ("rejected: every held-out flight has the same outcome, so AUC is "
                           "undefined and the candidate cannot be judged")
    elif floors:
        decision.reason = "rejected: " + "; ".join(floors)
    elif p_champion is None:
        decision.promote = True
        decision.reason = "promoted: first model, above the sanity floors"
    elif decision.delta_low <= -config.tolerance:
        decision.reason = (f"rejected: AUC change {decision.delta_auc:+.4f}, "
                           f"{config.confidence:.0%} interval [{decision.delta_low:+.4f}, "
                           f"{decision.delta_high:+.4f}] reaches below -{config.tolerance}")
    elif decision.failed_slices:
        decision.reason = "rejected: slices regress beyond tolerance: " + ", ".join(
            f"{k} ({decision.slice_deltas[k]:+.4f})" for k in decision.failed_slices)
    else:
        decision.promote = True
        decision.reason = (f"promoted: AUC change {decision.delta_auc:+.4f}, "
                           f"{config.confidence:.0%} interval [{decision.delta_low:+.4f}, "
                           f"{decision.delta_high:+.4f}] above -{config.tolerance}")
    return decision
