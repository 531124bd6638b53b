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
DAYS = np.repeat(np.arange(4), N // 4)          # four held-out days of 1,000 flights


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
    decision = gate.decide(Y, scores(0.2, 1), scores(1.5, 2), days=DAYS)
    assert decision.promote and decision.delta_low > 0
    assert decision.reason.startswith("promoted: per-day AUC change +")


def test_clearly_worse_candidate_is_rejected():
    decision = gate.decide(Y, scores(1.5, 2), scores(0.2, 1), days=DAYS)
    assert not decision.promote and decision.delta_high < 0


def test_a_candidate_within_noise_is_not_promoted_under_a_small_tolerance():
    decision = gate.decide(Y, scores(0.6, 3), scores(0.6, 4), days=DAYS,
                           config=gate.GateConfig(tolerance=0.002))
    assert decision.delta_low < 0 < decision.delta_high
    assert not decision.promote and "reaches below" in decision.reason


def test_a_large_slice_that_regresses_blocks_promotion():
    champion = scores(0.5, 5)
    candidate = scores(0.3, 6)
    aa = np.arange(N) % 4 == 0                             # a quarter of every day
    slice_labels = np.where(aa, "AA", "UA")
    candidate[aa] = np.random.default_rng(8).permutation(candidate[aa])   # AA falls apart
    decision = gate.decide(Y, candidate, champion, {"carrier": slice_labels}, days=DAYS)
    assert "carrier=AA" in decision.failed_slices and not decision.promote
    assert decision.slice_deltas["carrier=AA"] < -0.03


def test_first_model_needs_only_the_floors():
    assert gate.decide(Y, scores(0.5, 7), None).promote
    chance = gate.decide(Y, RNG.random(N), None)
    assert not chance.promote and "below the floor" in chance.reason


def test_forced_promotion_is_recorded_as_forced():
    decision = gate.decide(Y, scores(1.5, 2), scores(0.2, 1), force=True, days=DAYS)
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
    assert not gate.decide(holdout["is_delayed"].astype(bool), p_bad, p,
                           days=holdout["ds"].to_numpy()).promote


def test_the_refit_is_reused_only_while_its_inputs_are_unchanged(labelled):
    from ct_assets.core import loop

    days = sorted(labelled["ds"].unique())
    judged_day = days[8]
    train = labelled[labelled["ds"].isin(days[:8])]
    judged = labelled[labelled["ds"] == judged_day]
    key = loop.refit_inputs(train, judged)
    # the same rows in another order (another query plan) are the same inputs
    assert loop.refit_inputs(train.sample(frac=1.0, random_state=1), judged) == key
    # a re-landed day of the window, or other parameters, are not
    moved = train.copy()
    moved.iloc[0, moved.columns.get_loc("is_delayed")] = not moved["is_delayed"].iloc[0]
    assert loop.refit_inputs(moved, judged) != key
    assert loop.refit_inputs(train, judged, training.TrainParams(n_estimators=7)) != key
    # and the score a stored digest stands for is the one a refit gives again
    assert loop.refit_score(train, judged).auc == loop.refit_score(train, judged).auc


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
    decision = gate.decide(y, scores(1.0, 1)[:500], scores(1.0, 2)[:500], days=DAYS[:500])
    assert not decision.promote and "same outcome" in decision.reason
    assert decision.delta_low is None


def prob(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(z - 0.5)))


def _days_of(n_days: int, per_day: int, seed: int):
    """Held-out days of `per_day` flights, each with its own delay rate."""
    rng = np.random.default_rng(seed)
    days = np.repeat(np.arange(n_days), per_day)
    rate = rng.uniform(0.1, 0.45, n_days)[days]
    y = rng.random(len(days)) < rate
    return days, y, y + rng.normal(0, 1.0, len(days)), rng


def test_a_day_level_effect_is_not_mistaken_for_a_flight_level_one():
    """A candidate that only learned each day's delay rate ranks the flights of a day no
    better: pooled over the days its AUC rises (the flight bootstrap, seeing 4,800 flights,
    is sure of it), while its per-day AUC does not move."""
    days, y, signal, rng = _days_of(6, 800, 1)
    champion = signal + rng.normal(0, 0.8, len(y))
    day_rate = np.array([y[days == d].mean() for d in range(6)])[days]
    candidate = prob(champion + 6 * (day_rate - y.mean()))  # a constant per day
    champion = prob(champion)
    flights = gate.decide(y, candidate, champion, config=gate.FLIGHT_GATE)
    by_day = gate.decide(y, candidate, champion, days=days)
    assert flights.promote and flights.delta_low > 0.01
    assert abs(by_day.delta_auc) < 1e-9 and by_day.delta_low == by_day.delta_high == 0


def test_the_day_bootstrap_spreads_with_the_days_not_with_the_flights():
    """A candidate a little better on every day alike, and one much better on half of the
    days and much worse on the others: the flight bootstrap sees 4,800 flights both times
    and gives both the same width; the day bootstrap is as tight when the days agree and
    widens with their disagreement."""
    days, y, signal, rng = _days_of(6, 800, 2)
    champion = prob(signal + rng.normal(0, 1.0, len(y)))
    steady = prob(signal + rng.normal(0, 0.85, len(y)))
    noise = np.where(days < 3, 0.3, 1.6)                  # much better, then much worse
    uneven = prob(signal + rng.normal(0, 1.0, len(y)) * noise)
    width = {}
    for name, candidate in (("steady", steady), ("uneven", uneven)):
        for config in (gate.FLIGHT_GATE, gate.GateConfig()):
            decision = gate.decide(y, candidate, champion, days=days, config=config)
            width[name, config.block] = decision.delta_high - decision.delta_low
    assert width["steady", "day"] == pytest.approx(width["steady", "flight"], rel=0.25)
    assert width["uneven", "flight"] == pytest.approx(width["steady", "flight"], rel=0.25)
    assert width["uneven", "day"] > 2 * width["uneven", "flight"]


def test_the_slice_veto_needs_an_interval_corrected_for_the_slices_tested():
    """Twenty carriers, no real difference: judged on point estimates some carrier loses
    more than the tolerance by chance and vetoes; with bounds corrected for twenty tests none
    does. A carrier that really falls apart is still vetoed."""
    days, y, signal, rng = _days_of(5, 2000, 3)
    carriers = np.array([f"C{i:02d}" for i in rng.integers(0, 20, len(y))])
    champion = prob(signal + rng.normal(0, 1.0, len(y)))
    candidate = prob(signal + rng.normal(0, 1.0, len(y)))
    point = gate.decide(y, candidate, champion, {"carrier": carriers}, days=days,
                        config=gate.GateConfig(slice_veto="point"))
    corrected = gate.decide(y, candidate, champion, {"carrier": carriers}, days=days)
    assert len(point.slice_deltas) == len(corrected.slice_deltas) == 20
    assert point.failed_slices and not corrected.failed_slices
    assert gate.slice_tail(gate.GateConfig(), 20) == pytest.approx(0.05 / 20)
    broken = candidate.copy()
    c07 = carriers == "C07"
    broken[c07] = rng.permutation(broken[c07])
    vetoed = gate.decide(y, broken, champion, {"carrier": carriers}, days=days)
    assert vetoed.failed_slices == ["carrier=C07"] and not vetoed.promote
    assert vetoed.slice_bounds["carrier=C07"] < -gate.GateConfig().slice_tolerance


def test_a_day_gate_needs_the_days():
    with pytest.raises(ValueError, match="held-out day of each flight"):
        gate.decide(Y, scores(0.2, 1), scores(1.5, 2))
