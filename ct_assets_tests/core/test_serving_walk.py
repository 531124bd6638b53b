"""The decision log and the retrain walk as pure functions, without Dagster."""

import datetime as dt

from ct_assets.core import policy
from ct_assets.core import walk as walk_module
from ct_assets.core.serving import Decision, DecisionLog
from ct_assets.core.walk import Signals, WalkState, to_rescore, walk

D = dt.date(2013, 3, 1)


def day(n: int) -> dt.date:
    return D + dt.timedelta(days=n)


def decision(n: int, version: str, kind="gate", replaced=None) -> Decision:
    return Decision(day(n), version, kind, "test", "why", candidate=version, replaced=replaced)


def log_of(*decisions) -> DecisionLog:
    log = DecisionLog()
    for item in decisions:
        log = log.append(item)
    return log


def test_who_serves_a_day_is_the_newest_decision_in_effect():
    log = log_of(decision(0, "1"), decision(5, "2", replaced="1"),
                 decision(9, "3", "forced", replaced="2"), decision(9, "1", "rollback",
                                                                     replaced="3"))
    assert log.version_serving(day(-1)) is None
    assert [log.version_serving(day(n)) for n in (0, 4, 5, 8, 9, 30)] == \
        ["1", "1", "2", "2", "1", "1"]
    assert log.current() == "1" and log.previous() == "3"
    assert log.champion_age(day(12)) == 3 and log.last_confirmed(day(7)) == day(5)


def test_decisions_only_move_forward():
    log = log_of(decision(0, "1"), decision(5, "2"))
    assert log.refusal_for(day(5)) is None and log.refusal_for(day(6)) is None
    refusal = log.refusal_for(day(3))
    assert "already decided for a later day, 2013-03-06" in refusal
    assert "Retrain for 2013-03-06 or later" in refusal


def test_a_candidate_is_gated_against_the_champion_serving_its_day():
    log = log_of(decision(0, "1"), decision(5, "2", replaced="1"))
    assert log.champion_to_beat(day(7), "3") == "2"
    assert log.champion_to_beat(day(5), "2") == "1"        # a re-run of the winner of day 5
    assert log.champion_to_beat(day(-1), "1") is None


def steady(days: range, drift=0.3, drop=0.0, version="1") -> Signals:
    return Signals(drift={day(n): (drift, version) for n in days},
                   drop={day(n): (drop, version) for n in days})


def go(signals, log, state=WalkState(), thresholds=policy.Thresholds(), **kw):
    kw.setdefault("next_trainable", None)
    return walk(signals, log, state, thresholds, policy.PolicyConfig(),
                valid=lambda d: True, **kw)


def test_without_a_champion_the_first_retrain_is_for_the_next_trainable_day():
    step = go(Signals({}, {}), DecisionLog(), next_trainable=day(2))
    assert step.request.day == day(2) and step.request.kinds == ["stale"]
    again = go(Signals({}, {}), DecisionLog(), step.state, next_trainable=day(2))
    assert again.request is None and "produced no champion" in again.waiting
    assert "no complete training window" in go(Signals({}, {}), DecisionLog()).waiting


def test_quiet_days_are_judged_in_order_and_a_drift_requests_the_next_day():
    log = log_of(decision(0, "1"))
    quiet = go(steady(range(0, 5)), log)
    assert quiet.request is None and quiet.judged == [day(n) for n in range(5)]
    assert quiet.state.last_day == day(4)
    signals = steady(range(0, 8))
    signals.drift[day(6)] = (2.0, "1")
    step = go(signals, log, quiet.state)
    assert step.request.day == day(7) and step.request.kinds == ["drift"]
    assert step.state.last_day == day(6) and step.state.last_retrain == day(7)


def test_the_walk_waits_for_scores_against_the_serving_champion_and_for_labels():
    log = log_of(decision(0, "1"), decision(3, "2"))
    signals = steady(range(0, 3))
    signals.drift[day(3)] = (0.3, "1")                     # scored before "2" was decided
    step = go(signals, log)
    assert step.state.last_day == day(2) and "another model" in step.waiting
    labels_late = Signals(drift={day(n): (0.3, "1") for n in range(0, 2)},
                          drop={day(0): (0.0, "1")})
    step = go(labels_late, log_of(decision(0, "1")))
    assert step.state.last_day == day(0) and "labels of 2013-03-02" in step.waiting


def test_a_day_whose_outcomes_are_in_waits_for_its_performance_whatever_later_days_show():
    # a catch-up: the drift of later days is there at once, day 1's performance is not yet
    signals = steady(range(0, 6))
    del signals.drop[day(1)]
    log = log_of(decision(0, "1"))
    on_drift_alone = go(signals, log)                      # outcomes late: judged after grace
    assert on_drift_alone.state.last_day == day(5)
    step = go(signals, log, labels_in=lambda d: True)      # outcomes in: measured first
    assert step.state.last_day == day(0)
    assert step.waiting == "the performance of 2013-03-02 on its outcomes is still to be measured"


def test_a_retrain_due_waits_for_its_window_and_the_day_is_judged_again():
    log = log_of(decision(0, "1"))
    signals = steady(range(0, 8))
    signals.drift[day(6)] = (2.0, "1")
    gap = {day(3)}                                         # a day of the window still to come

    def unready(target):
        return f"the features of {sorted(gap)[0]}" if gap else None

    step = go(signals, log, unready=unready)
    assert step.request is None and step.state.last_day == day(5)
    assert step.waiting == ("a retrain for 2013-03-08 is due (drift 2.00 >= 0.80); its window "
                            "waits for the features of 2013-03-04")
    gap.clear()                                            # the day is featurised
    step = go(signals, log, step.state, unready=unready)
    assert step.request.day == day(7) and step.state.last_day == day(6)


def test_the_cooldown_counts_from_any_retrain_and_staleness_from_the_last_decision():
    log = log_of(decision(0, "1"))
    signals = steady(range(0, 10))
    signals.drift[day(9)] = (2.0, "1")
    step = go(signals, log, retrained=day(10))             # a manual retrain for day 10
    assert step.request is None and step.suppressed == [(day(9), ["drift 2.00 >= 0.80"])]
    step = go(steady(range(0, 20)), log)
    assert step.request.day == day(15) and step.request.kinds == ["stale"]
    assert step.request.reasons == ["champion last confirmed 15 days ago (> 14)"]


def test_days_scored_before_their_champion_was_decided_are_to_rescore():
    log = log_of(decision(2, "1"))
    scored = {day(1): "", day(2): "", day(3): "", day(4): "1"}
    # day 2 too: automation may have seen it handled in the tick its decision landed
    assert to_rescore(scored, log) == [day(2), day(3)]


def test_a_day_in_a_candidates_shadow_waits_for_its_score_and_the_gain_is_learned_after():
    """Candidate "2" (trained for day 3, promoted over "1" for a drift) is scored in the
    shadow of "1" on its first 7 days; day 5 waits for its shadow score; once the 7 days are
    in, the drift threshold learns from what it bought (-0.01: nothing), not from the gate."""
    log = log_of(decision(0, "1"), decision(3, "2", replaced="1"))
    signals = Signals(drift={day(n): (0.3, "1" if n < 3 else "2") for n in range(0, 6)},
                      drop={day(n): (0.0, "1" if n < 3 else "2") for n in range(0, 6)},
                      retrains={day(3): frozenset({"drift"})},
                      shadow={day(3): {day(3): -0.01, day(4): -0.01}})
    first = WalkState(last_day=day(2), last_retrain=day(3))
    step = go(signals, log, first)
    assert step.judged == [day(3), day(4)] and "shadow scores of 2013-03-06" in step.waiting
    assert step.learned.drift == policy.Thresholds().drift
    for n in range(6, 12):
        signals.drift[day(n)], signals.drop[day(n)] = (0.3, "2"), (0.0, "2")
    signals.shadow[day(3)].update({day(n): -0.01 for n in range(5, 10)})
    step = go(signals, log, step.state)
    assert step.judged == [day(n) for n in range(5, 12)]
    assert step.learned.drift == policy.Thresholds().drift * policy.PolicyConfig().raise_factor
    # the first model had no champion to beat: nothing in the shadow, nothing to learn
    assert walk_module.shadowed(log) == {day(3): ("2", "1")}
    assert walk_module.realised_gain({day(3): 0.01, day(5): 0.03}, day(3), 7) == 0.02
