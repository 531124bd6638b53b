"""The hindsight ceiling: the best choice of k retrain days over a period, knowing the future.

Over the served days of a period, a retrain for day m serves the model trained for m (the
project's features, window and training) from m until the next retrain; the first retrain is
on the period's first day (it is counted). Given the AUC of every model on every later day
of the period (the model x day matrix), a dynamic programme finds, for each k, the retrain
days with the highest mean daily AUC: no gate, no noise in the choice, the future known. No
real policy reaches it; it says how much the choice of days can be worth.
"""

import math

import numpy as np


def best_retrains(auc: np.ndarray, k_max: int) -> list[tuple[float, list[int]]]:
    """For k = 1 .. k_max, the highest total AUC of at most k retrains and the days chosen.

    `auc[m, d]`: AUC of the model trained for day m (indices into the period's days) on day
    d >= m; NaN where a day has no AUC (it counts 0 for every model, so it changes no
    choice). The first retrain is on day 0."""
    n = auc.shape[0]
    if auc.shape != (n, n):
        raise ValueError(f"the model x day matrix must be square, got {auc.shape}")
    values = np.where(np.isnan(auc), 0.0, auc)
    # served[m, d]: total AUC of model m over days m .. d-1 (prefix sums along the days)
    served = np.zeros((n, n + 1))
    for m in range(n):
        served[m, m + 1:] = np.cumsum(values[m, m:])
    # best[j][s]: the highest total over days s .. n-1 with at most j retrains, the first on s
    best = np.full((k_max + 1, n + 1), -math.inf)
    choice = np.full((k_max + 1, n + 1), -1, dtype=int)
    best[:, n] = 0.0
    for j in range(1, k_max + 1):
        for s in range(n - 1, -1, -1):
            # serve model s until t (exclusive), then j-1 retrains from t; t = n: no more
            totals = served[s, s + 1:] + np.r_[best[j - 1, s + 1:n], 0.0]
            t = int(np.argmax(totals))
            best[j, s], choice[j, s] = totals[t], s + 1 + t
    out = []
    for k in range(1, k_max + 1):
        days, s, j = [], 0, k
        while s < n:
            days.append(s)
            s, j = choice[j, s], j - 1
        out.append((float(best[k, 0]), days))
    return out


def ceiling(auc: np.ndarray, ks: list[int]) -> list[dict]:
    """The `hindsight` rows of policies.json: per k, the mean daily AUC of the best choice of
    at most k retrains over the period (days without an AUC left out of the mean) and the
    retrain days it used (indices)."""
    days_with_auc = int((~np.isnan(np.diag(auc))).sum())
    found = best_retrains(auc, max(ks))
    return [{"retrains": k, "mean_auc": found[k - 1][0] / days_with_auc,
             "used": len(found[k - 1][1]), "days": found[k - 1][1]} for k in ks]
