"""Drift episodes are runs of days with a large fresh-vs-old gap, and a policy's reaction time
counts the days to the first model trained after the onset (0 if it was already fresh)."""

import datetime as dt

from ct_assets.bench.policies.episodes import find_episodes, reaction_days
from ct_assets.bench.policies.results import PolicyResult, Retrain, Served
from ct_assets.bench.policies.specs import standard_policies


def test_episodes_and_reaction_times():
    gaps = {dt.date(2013, 3, 1) + dt.timedelta(days=i): g
            for i, g in enumerate([0, 0.01, 0.05, 0.06, 0.04, -0.1, 0, 0.09, 0])}
    episodes = find_episodes(gaps, threshold=0.02, smooth=1, min_days=2)
    assert [(e.onset, e.days) for e in episodes] == [(dt.date(2013, 3, 3), 3)]

    def result(champion_day):
        served = [Served(day, champion_day, 0.7, 900, 0.5, 0.0) for day in gaps]
        return PolicyResult(standard_policies()["weekly-mon"], served=served, retrains=[
            Retrain(day, ["scheduled"], [], promoted, 0.7, 0.7, 0.0, 0.0, "", 1.0, 0.1)
            for day, promoted in ((dt.date(2013, 3, 3), True), (dt.date(2013, 3, 5), False),
                                  (dt.date(2013, 3, 7), True))])

    # served on the onset by a month-old model: 4 days until the first model trained after it
    assert reaction_days(result(dt.date(2013, 2, 1)), episodes[0]) == 4
    # served by a model trained two days before the onset: it had seen the run-up already
    assert reaction_days(result(dt.date(2013, 3, 1)), episodes[0]) == 0
