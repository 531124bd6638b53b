"""The retrain loop's shape, once: which days a model serving day D learns from and is judged
on. The assets (and the partition mappings of their inputs), the sensors and `ct bench
policies` all take their windows from a `RetrainSpec`; there is no other 28 or 3.

A model serving D is trained as of D's first cutoff, so it may only use outcomes published
before it: the newest labelled day is `D - label_lag_days`, derived from the source's declared
availability (`features.published_through`), never assumed. Its window is the
`window_days` labelled days ending there; the newest `holdout_days` of them are kept out of
training and judge the candidate against the champion at the gate.
"""

import datetime as dt
from dataclasses import dataclass

from ct_assets.core.availability import SourceAvailability
from ct_assets.core.days import day_range
from ct_assets.core.feature_drift import MIN_CALIBRATION_DAYS
from ct_assets.core.features import published_through

# A candidate is compared with the champion per slice of these columns as well as overall.
SLICES = ("carrier", "origin")


@dataclass(frozen=True)
class RetrainSpec:
    """The window of a retrain, in days (see the module docstring)."""

    window_days: int = 28
    holdout_days: int = 3
    label_lag_days: int = 2
    slices: tuple[str, ...] = SLICES

    @classmethod
    def for_source(cls, availability: SourceAvailability, **overrides) -> "RetrainSpec":
        """The spec whose label lag follows the source's outcome publication."""
        probe = dt.date(2001, 1, 1)
        lag = (probe - published_through(probe, availability)).days
        return cls(label_lag_days=lag, **overrides)

    def __post_init__(self):
        if self.holdout_days < 1:
            raise ValueError(f"holdout_days={self.holdout_days}: the gate needs at least 1 "
                             "held-out day")
        if self.window_days - self.holdout_days < MIN_CALIBRATION_DAYS:
            raise ValueError(
                f"window_days={self.window_days} with holdout_days={self.holdout_days} leaves "
                f"{self.window_days - self.holdout_days} training day(s); the drift reference "
                f"logged with a model is calibrated on its training days and needs at least "
                f"{MIN_CALIBRATION_DAYS}")

    @property
    def train_days_count(self) -> int:
        return self.window_days - self.holdout_days

    def window(self, day: dt.date) -> tuple[dt.date, dt.date]:
        """[start, end) of the labelled days a model serving `day` may use."""
        end = day - dt.timedelta(days=self.label_lag_days - 1)
        return end - dt.timedelta(days=self.window_days), end

    def days(self, day: dt.date) -> list[dt.date]:
        return list(day_range(*self.window(day)))

    def split(self, day: dt.date) -> tuple[list[dt.date], list[dt.date]]:
        """(training days, held-out days) of the model serving `day`."""
        days = self.days(day)
        return days[:-self.holdout_days], days[-self.holdout_days:]

    def partition_offsets(self) -> tuple[int, int]:
        """(start_offset, end_offset) of a `TimeWindowPartitionMapping` from partition D to
        its window (both ends inclusive, in days)."""
        return -(self.label_lag_days + self.window_days - 1), -self.label_lag_days
