"""CBPE: on days whose outcomes really are drawn from calibrated scores, the estimated AUC
matches the AUC the outcomes give, within the error it states; miscalibrated scores are
brought back by the model's own calibration."""

import numpy as np
import pytest

from ct_assets.core import cbpe, evaluation


def day(seed: int, n: int = 900, spread: float = 1.0, base: float = -1.3):
    """A day of `n` flights: calibrated probabilities and outcomes drawn from them."""
    rng = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-(base + spread * rng.normal(0, 1, n))))
    return p, rng.random(n) < p


def test_the_estimate_matches_the_realised_auc_within_its_stated_error():
    z = []
    for seed in range(300):
        p, y = day(seed, spread=0.6 + (seed % 5) * 0.2)       # easier and harder days
        estimate = cbpe.estimate(p, seed=seed)
        z.append((estimate.auc - evaluation.auc(y, p)) / estimate.sd)
    z = np.array(z)
    assert abs(z.mean()) < 0.15                              # unbiased
    assert 0.85 < np.std(z) < 1.15                           # the stated error is the error
    assert 0.86 < np.mean(np.abs(z) < 1.645) < 0.94          # a 90% interval covers 90%


def test_the_estimate_follows_how_separable_the_day_is():
    hard, easy = cbpe.estimate(day(1, spread=0.4)[0]), cbpe.estimate(day(1, spread=1.6)[0])
    assert hard.auc < 0.65 < 0.80 < easy.auc
    assert 0.01 < hard.sd < 0.04 and hard.n == 900


def test_the_models_own_calibration_repairs_overconfident_scores():
    """Scores pushed away from the base rate (a model more confident than it should be)
    inflate the estimate; an isotonic map fitted on held-out days with outcomes repairs it."""
    p, y = day(7, n=3000)
    overconfident = 1 / (1 + np.exp(-2.5 * np.log(p / (1 - p))))
    calibration = cbpe.fit_calibration(y, overconfident)
    assert list(calibration.x) == sorted(calibration.x)
    assert list(calibration.y) == sorted(calibration.y)     # monotone
    errors = {"raw": [], "calibrated": []}
    for seed in range(40):
        p, y = day(100 + seed)
        scores = 1 / (1 + np.exp(-2.5 * np.log(p / (1 - p))))
        truth = evaluation.auc(y, scores)
        errors["raw"].append(cbpe.estimate(scores).auc - truth)
        errors["calibrated"].append(cbpe.estimate(scores, calibration).auc - truth)
    assert np.mean(errors["raw"]) > 0.05
    assert abs(np.mean(errors["calibrated"])) < 0.01
    assert cbpe.Calibration.from_dict(calibration.as_dict()) == calibration


def test_a_calibration_needs_enough_flights():
    with pytest.raises(ValueError, match="at least 100 flights"):
        cbpe.fit_calibration(np.ones(50, bool), np.linspace(0, 1, 50))
