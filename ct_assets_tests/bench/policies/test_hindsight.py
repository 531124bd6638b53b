"""The hindsight ceiling is the best choice of retrain days, checked against every choice."""

import itertools

import numpy as np
import pytest

from ct_assets.bench.policies.hindsight import best_retrains, ceiling


def brute_force(auc: np.ndarray, k: int) -> float:
    n = auc.shape[0]
    best = -np.inf
    for size in range(1, k + 1):
        for rest in itertools.combinations(range(1, n), size - 1):
            starts = (0, *rest)
            total = 0.0
            for i, s in enumerate(starts):
                end = starts[i + 1] if i + 1 < len(starts) else n
                total += np.nansum(auc[s, s:end])
            best = max(best, total)
    return best


def test_the_programme_finds_the_best_choice_of_days():
    rng = np.random.default_rng(0)
    n = 9
    # models decay with age, with noise: when to retrain is not obvious
    age = np.subtract.outer(np.arange(n), np.arange(n)) * -1.0
    auc = np.triu(0.70 - 0.01 * age + rng.normal(0, 0.01, (n, n)))
    auc[np.tril_indices(n, -1)] = np.nan
    auc[3, 5] = np.nan                                     # a day without labels
    found = best_retrains(auc, 4)
    for k in range(1, 5):
        total, days = found[k - 1]
        assert total == pytest.approx(brute_force(auc, k))
        assert days[0] == 0 and len(days) <= k and days == sorted(days)
    totals = [t for t, _ in found]
    assert totals == sorted(totals)                        # more retrains never hurt
    rows = ceiling(auc, [1, 4])
    assert rows[0]["mean_auc"] == pytest.approx(np.nansum(auc[0]) / n)
    assert rows[1]["retrains"] == 4 and rows[1]["used"] <= 4
