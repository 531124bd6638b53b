import datetime as dt
import re

import numpy as np
import pytest

from ct_assets.bench.train import labelled_frame
from ct_assets.core import evaluation, gate, training
from ct_assets.core.loop import RetrainSpec
from ct_assets.sources.nycflights13 import AVAILABILITY

RNG = np.random.default_rng(42)
N = 4000
Y = RNG.random(N) < 0.25
SIGNAL = Y + RNG.normal(0, 1.0, N)


def scores(noise: float, seed: int) -> np.ndarray:
    """A model whose score is the signal plus its own noise: more noise, lower AUC."""
    rng = np.random.default_rng(seed)
    z = SIGNAL + rng.normal(0, noise, N)
    return 1 / (1 + np.exp(-(z - 0.5)))


def test_auc_matches_the_definition():
    y = np.array([0, 0, 1, 1, 0, 1], dtype=bool)
    p = np.array([0.1, 0.4, 0.35, 0.8, 0.5, 0.5])
    pairs = [(a, b) for a in p[y] for b in p[~y]]
    expected = np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs])
    assert evaluation.auc(y, p) == pytest.approx(expected)


def test_mean_daily_auc_judges_each_day_alone_and_skips_one_class_days():
    y = np.array([0, 1, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.8, 0.9, 0.3, 0.4])
    days = np.array(["d1", "d1", "d2", "d2", "d3", "d3"])
    # each day ranks its own flights perfectly; pooled, d1's delayed flight ranks below d2's
    # on-time one; d3 has delayed flights only and no AUC
    assert evaluation.mean_daily_auc(y, p, days) == 1.0
    assert evaluation.auc(y[:4], p[:4]) == 0.75
    assert np.isnan(evaluation.mean_daily_auc(y[4:], p[4:], days[4:]))


def test_clearly_better_candidate_is_promoted():
    decision = gate.decide(Y, scores(0.2, 1), scores(1.5, 2))
    assert decision.promote and decision.delta_low > 0
    assert decision.reason.startswith("promoted: AUC change +")


def test_clearly_worse_candidate_is_rejected():
    decision = gate.decide(Y, scores(1.5, 2), scores(0.2, 1))
    assert not decision.promote and decision.delta_high < 0


def test_a_candidate_within_noise_is_not_promoted():
    decision = gate.decide(Y, scores(0.6, 3), scores(0.6, 4))
    assert decision.delta_low < 0 < decision.delta_high
    assert not decision.promote and "reaches below" in decision.reason


def test_a_large_slice_that_regresses_blocks_promotion():
    champion = scores(0.5, 5)
    candidate = scores(0.3, 6)
    slice_labels = np.where(np.arange(N) < 1000, "AA", "UA")
    candidate[:1000] = RNG.permutation(candidate[:1000])   # AA falls apart
    decision = gate.decide(Y, candidate, champion, {"carrier": slice_labels})
    assert "carrier=AA" in decision.failed_slices and not decision.promote
    assert decision.slice_deltas["carrier=AA"] < -0.03


def test_first_model_needs_only_the_floors():
    assert gate.decide(Y, scores(0.5, 7), None).promote
    chance = gate.decide(Y, RNG.random(N), None)
    assert not chance.promote and "below the floor" in chance.reason


def test_forced_promotion_is_recorded_as_forced():
    decision = gate.decide(Y, scores(1.5, 2), scores(0.2, 1), force=True)
    assert decision.promote and decision.forced and "forced" in decision.reason
    assert decision.delta_high < 0   # the numbers still say it was worse


@pytest.fixture(scope="module")
def labelled():
    return labelled_frame(dt.date(2013, 3, 1), dt.date(2013, 3, 22))


def test_training_is_deterministic_and_learns(labelled):
    days = sorted(labelled["ds"].unique())
    train_days, holdout_days = training.window_split(days, 3)
    train = labelled[labelled["ds"].isin(train_days)]
    holdout = labelled[labelled["ds"].isin(holdout_days) & labelled["is_delayed"].notna()]
    params = training.TrainParams(n_estimators=80)
    first, second = training.fit(train, params), training.fit(train, params)
    p = first.predict_proba(holdout)
    assert np.array_equal(p, second.predict_proba(holdout))
    assert evaluation.auc(holdout["is_delayed"].astype(bool), p) > 0.62
    shuffled = train.assign(is_delayed=np.random.default_rng(0).permutation(
        train["is_delayed"].to_numpy()))
    p_bad = training.fit(shuffled, params).predict_proba(holdout)
    assert not gate.decide(holdout["is_delayed"].astype(bool), p_bad, p).promote


def test_window_split_keeps_the_latest_days_out():
    days = [dt.date(2013, 1, d) for d in range(1, 29)]
    train_days, holdout_days = training.window_split(days, 3)
    assert holdout_days == days[-3:] and train_days == days[:-3]
    with pytest.raises(ValueError):
        training.window_split(days[:2], 3)


@pytest.mark.parametrize("window,holdout,rule", [
    (5, 3, "leaves 2 training day(s)"), (28, 0, "at least 1 held-out day")])
def test_a_retrain_spec_too_short_to_calibrate_fails_clearly(window, holdout, rule):
    with pytest.raises(ValueError, match=re.escape(rule)):
        RetrainSpec(window_days=window, holdout_days=holdout)


def test_the_retrain_window_ends_at_the_last_day_published_before_the_served_day():
    spec = RetrainSpec.for_source(AVAILABILITY)
    day = dt.date(2013, 3, 1)
    train, held_out = spec.split(day)
    assert spec.label_lag_days == 2
    assert held_out == [dt.date(2013, 2, 25), dt.date(2013, 2, 26), dt.date(2013, 2, 27)]
    assert train[0] == dt.date(2013, 1, 31) and len(train) + len(held_out) == 28
    assert spec.partition_offsets() == (-29, -2)


def test_held_out_days_with_one_outcome_class_are_rejected_not_a_crash():
    y = np.ones(500, dtype=bool)
    decision = gate.decide(y, scores(1.0, 1)[:500], scores(1.0, 2)[:500])
    assert not decision.promote and "same outcome" in decision.reason
    assert decision.delta_low is None
