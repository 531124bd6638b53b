"""Drift episodes, found from policy-independent series (a fresh model against a two-week-old
one on each day), and how many days each policy took to serve a model trained after an onset."""

import datetime as dt
from dataclasses import dataclass

from ct_assets.bench.policies.results import PolicyResult

EPISODE_GAP = 0.02                 # fresh minus 14-day-old model, 3-day mean AUC
EPISODE_OLD_DAYS = 14
EPISODE_SMOOTH = 3
EPISODE_MIN_DAYS = 2
EPISODE_FRESH_DAYS = 3             # a champion trained this close to the onset is already fresh


@dataclass
class Episode:
    onset: dt.date
    last: dt.date
    peak_gap: float
    mean_gap: float

    @property
    def days(self) -> int:
        return (self.last - self.onset).days + 1


def find_episodes(gaps: dict[dt.date, float], threshold: float = EPISODE_GAP,
                  smooth: int = EPISODE_SMOOTH, min_days: int = EPISODE_MIN_DAYS
                  ) -> list[Episode]:
    """Runs of at least `min_days` days whose trailing `smooth`-day mean gap is >= threshold.

    The trailing mean only uses days up to D, so an onset is a day on which the gap was
    already visible."""
    days = sorted(gaps)
    smoothed = {}
    for i, day in enumerate(days):
        window = [gaps[d] for d in days[max(0, i - smooth + 1): i + 1]]
        smoothed[day] = sum(window) / len(window)
    episodes, run = [], []
    for day in days + [None]:
        if day is not None and smoothed[day] >= threshold and (
                not run or (day - run[-1]).days == 1):
            run.append(day)
            continue
        if len(run) >= min_days:
            values = [smoothed[d] for d in run]
            episodes.append(Episode(run[0], run[-1], max(values), sum(values) / len(values)))
        run = [day] if day is not None and smoothed[day] >= threshold else []
    return episodes


def reaction_days(result: PolicyResult, episode: Episode,
                  fresh_days: int = EPISODE_FRESH_DAYS) -> int | None:
    """Days from the episode's onset to the first day served by a model this policy promoted
    after the onset day (trained on it); 0 if the model serving the onset day was trained for
    a day at most `fresh_days` before it (it had already seen the run-up); None if it never
    got a promoted model within the range."""
    onset = next((s for s in result.served if s.day == episode.onset), None)
    if onset is not None and (episode.onset - onset.model_day).days <= fresh_days:
        return 0
    for retrain in result.retrains:
        if retrain.promoted and retrain.day > episode.onset:
            return (retrain.day - episode.onset).days
    return None
