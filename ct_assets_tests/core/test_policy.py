import math

import pytest

from ct_assets.core import policy

T = policy.Thresholds(drift=1.5, performance=0.02)   # explicit: the tests outlive the defaults
RAW = policy.PolicyConfig(performance_smoothing=1)   # judge each day's drop as it is


def test_holt_follows_a_linear_trend():
    forecast = policy.holt_forecast([0.1 * i for i in range(10)], horizon=3)
    assert forecast.mean == pytest.approx([1.0, 1.1, 1.2], abs=1e-6)
    assert all(lo <= m <= hi for lo, m, hi in zip(forecast.low, forecast.mean, forecast.high,
                                                  strict=True))


def test_a_rising_drift_fires_before_the_observed_series_crosses():
    rising = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2]          # still below 1.5
    decision = policy.decide(rising, [0.0] * 8, T, champion_age_days=3)
    assert decision.retrain and decision.lead_days in (1, 2, 3)
    assert "forecast to cross" in decision.reasons[0]
    flat = [0.4, 0.42, 0.38, 0.41, 0.39, 0.4, 0.41, 0.4]
    assert not policy.decide(flat, [0.0] * 8, T, champion_age_days=3).retrain


def test_reactive_triggers_and_staleness():
    fresh = {"champion_age_days": 2, "config": RAW}
    assert policy.decide([0.2, 1.6], [0.0, 0.0], T, **fresh).reasons == ["drift 1.60 >= 1.50"]
    drop = policy.decide([0.2, 0.2], [0.0, 0.03], T, **fresh)
    assert drop.retrain and drop.reasons[0].startswith("performance drop 0.0300")
    assert drop.kinds == ["performance"]
    assert not policy.decide([0.2, 1.2], [0.0, math.nan], T, **fresh).retrain
    stale = policy.decide([0.2] * 3, [0.0] * 3, T, champion_age_days=20)
    assert stale.retrain and "20 days" in stale.reasons[0] and stale.kinds == ["stale"]
    first = policy.decide([0.2] * 3, [math.nan] * 3, T, champion_age_days=None)
    assert first.reasons == ["no champion yet"]


def test_one_bad_day_is_noise_three_are_a_drop():
    config = policy.PolicyConfig(performance_smoothing=3, horizon=0)
    one_bad_day = [0.0, 0.0, 0.0, 0.0, 0.05]
    assert not policy.decide([0.2] * 5, one_bad_day, T, config, champion_age_days=2).retrain
    three = policy.decide([0.2] * 5, [0.0, 0.0, 0.03, 0.02, 0.04], T, config,
                          champion_age_days=2)
    assert three.retrain and three.reasons == ["performance drop 0.0300 >= 0.0200"]
    # a day without labels adds nothing: no value, no signal
    assert policy.trailing_mean([0.01, math.nan, 0.03], 3) == pytest.approx([0.01, math.nan,
                                                                             0.02], nan_ok=True)


def test_cooldown_suppresses_a_retrain_storm():
    decision = policy.decide([1.6], [0.0], T, days_since_retrain=1, champion_age_days=1)
    assert not decision.retrain and decision.suppressed_by_cooldown
    assert policy.decide([1.6], [0.0], T, days_since_retrain=5, champion_age_days=5).retrain


def test_feedback_raises_after_retrains_that_bought_nothing_and_stops_at_the_bound():
    thresholds = T
    useless = policy.Outcome(kinds=frozenset({"drift"}), auc_gain=-0.004)
    once = policy.adjust(thresholds, useless)
    assert once.drift == pytest.approx(1.5 * 1.15) and once.performance == T.performance
    for _ in range(30):
        thresholds = policy.adjust(thresholds, useless)
    assert thresholds.drift == T.max_drift
    assert thresholds.performance == T.performance      # only the signal that fired moves
    small_gain = policy.Outcome(kinds=frozenset({"predicted_performance"}), auc_gain=0.001)
    assert policy.adjust(T, small_gain).performance == pytest.approx(0.02 * 1.15)


def test_feedback_lowers_the_signals_that_missed_a_big_gain_and_stops_at_the_bound():
    missed_by_both = policy.Outcome(kinds=frozenset({"scheduled"}), auc_gain=0.02)
    once = policy.adjust(T, missed_by_both)
    assert once.drift == pytest.approx(1.35) and once.performance == pytest.approx(0.018)
    thresholds = T
    for _ in range(50):
        thresholds = policy.adjust(thresholds, missed_by_both)
    assert (thresholds.drift, thresholds.performance) == (T.min_drift, T.min_performance)
    drift_caught_it = policy.Outcome(kinds=frozenset({"drift"}), auc_gain=0.02)
    after = policy.adjust(T, drift_caught_it)
    assert after.drift == T.drift and after.performance == pytest.approx(0.018)


def test_a_helpful_retrain_leaves_thresholds_alone_and_an_unused_signal_stays_off():
    helpful = policy.Outcome(kinds=frozenset({"drift"}), auc_gain=0.005)
    assert policy.adjust(T, helpful) == T
    assert T.refit == math.inf
    assert policy.adjust(T, policy.Outcome(kinds=frozenset({"drift"}), auc_gain=0.05)).refit \
        == math.inf


def test_learning_folds_the_outcomes_in_order_and_only_with_feedback_on():
    outcomes = [policy.Outcome(kinds=frozenset({"drift"}), auc_gain=-0.01)] * 2
    assert policy.learn(T, outcomes).drift == pytest.approx(1.5 * 1.15 ** 2)
    assert policy.learn(T, outcomes, policy.PolicyConfig(feedback=False)) == T


def test_the_refit_and_estimated_signals_fire_on_their_smoothed_series():
    on = policy.Thresholds(drift=9, performance=9, refit=0.01, estimate=0.02)
    config = policy.PolicyConfig(horizon=0, refit_smoothing=2, estimate_smoothing=1)
    quiet = policy.decide([0.1] * 4, [0.0] * 4, on, config, champion_age_days=2,
                          refit=[0.0, 0.0, 0.0, 0.015], estimate=[0.0] * 4)
    assert not quiet.retrain                              # one day of 0.015: mean 0.0075
    fired = policy.decide([0.1] * 4, [0.0] * 4, on, config, champion_age_days=2,
                          refit=[0.0, 0.0, 0.012, 0.015], estimate=[0.0, 0.0, 0.0, 0.03])
    assert fired.kinds == ["estimate", "refit"]
    assert fired.reasons == ["estimated performance drop 0.0300 >= 0.0200",
                             "refit gain 0.0135 >= 0.0100"]


def test_forecast_needs_three_points_and_skips_gaps():
    with pytest.raises(ValueError, match="at least 3"):
        policy.holt_forecast([0.1, math.nan, 0.2], 2)
    assert len(policy.holt_forecast([0.1, math.nan, 0.2, 0.3], 2).mean) == 2
