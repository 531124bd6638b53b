import math

import pytest

from ct_assets.core import policy

T = policy.Thresholds()


def test_holt_follows_a_linear_trend():
    forecast = policy.holt_forecast([0.1 * i for i in range(10)], horizon=3)
    assert forecast.mean == pytest.approx([1.0, 1.1, 1.2], abs=1e-6)
    assert all(lo <= m <= hi for lo, m, hi in zip(forecast.low, forecast.mean, forecast.high,
                                                  strict=True))


def test_a_rising_drift_fires_before_the_observed_series_crosses():
    rising = [0.3, 0.35, 0.45, 0.55, 0.62, 0.7, 0.78, 0.86]          # still below 1.0
    decision = policy.decide(rising, [0.0] * 8, T)
    assert decision.retrain and decision.lead_days in (1, 2, 3)
    assert "forecast to cross" in decision.reasons[0]
    flat = [0.4, 0.42, 0.38, 0.41, 0.39, 0.4, 0.41, 0.4]
    assert not policy.decide(flat, [0.0] * 8, T).retrain


def test_reactive_triggers_and_staleness():
    assert policy.decide([0.2, 1.3], [0.0, 0.0], T).reasons == ["drift 1.30 >= 1.00"]
    drop = policy.decide([0.2, 0.2], [0.0, 0.03], T)
    assert drop.retrain and drop.reasons[0].startswith("performance drop 0.0300")
    stale = policy.decide([0.2] * 3, [0.0] * 3, T, champion_age_days=20)
    assert stale.retrain and "20 days old" in stale.reasons[0]


def test_cooldown_suppresses_a_retrain_storm():
    decision = policy.decide([1.5], [0.0], T, days_since_retrain=1)
    assert not decision.retrain and decision.suppressed_by_cooldown
    assert policy.decide([1.5], [0.0], T, days_since_retrain=5).retrain


def test_feedback_raises_after_useless_retrains_and_stops_at_the_bound():
    thresholds = T
    useless = policy.Outcome(triggered=True, promoted=False, drift_reason=True)
    for _ in range(30):
        thresholds = policy.adjust(thresholds, useless)
    assert thresholds.drift == T.max_drift
    assert thresholds.performance == T.performance      # only the signal that fired moves


def test_feedback_lowers_after_an_unnoticed_drop_and_stops_at_the_bound():
    thresholds = T
    missed = policy.Outcome(triggered=False, unnoticed_drop=0.05)
    once = policy.adjust(thresholds, missed)
    assert once.drift == pytest.approx(0.9) and once.performance == pytest.approx(0.018)
    for _ in range(50):
        thresholds = policy.adjust(thresholds, missed)
    assert (thresholds.drift, thresholds.performance) == (T.min_drift, T.min_performance)


def test_a_helpful_retrain_leaves_thresholds_alone():
    helpful = policy.Outcome(triggered=True, promoted=True, auc_gain=0.01, drift_reason=True)
    assert policy.adjust(T, helpful) == T


def test_forecast_needs_three_points_and_skips_gaps():
    with pytest.raises(ValueError, match="at least 3"):
        policy.holt_forecast([0.1, math.nan, 0.2], 2)
    assert len(policy.holt_forecast([0.1, math.nan, 0.2, 0.3], 2).mean) == 2
