"""The bad-input catalogue of the foundation: each case either fails its file with a message
naming file, partition and rule, or quarantines rows with a reason; no row is ever lost."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ct_assets.core import ingest, validation
from ct_assets.core.errors import CTInputError
from ct_assets.sources import nycflights13 as source

DAY = dt.date(2013, 1, 1)
KEY = DAY.isoformat()
SPEC = source.flights_spec()


@pytest.fixture
def real_day() -> pd.DataFrame:
    return source.day_frame("flights", DAY)


def load(tmp_path, frame) -> pd.DataFrame:
    path = tmp_path / f"{KEY}.parquet"
    frame.to_parquet(path, index=False)
    return ingest.read_landed(path, SPEC, KEY).frame


def split(tmp_path, frame) -> validation.Split:
    result = validation.split_rows(load(tmp_path, frame), SPEC, DAY)
    assert len(result.valid) + len(result.quarantined) == len(frame), "a row was lost"
    return result


def test_a_clean_real_day_passes_every_row(tmp_path, real_day):
    result = split(tmp_path, real_day)
    assert len(result.valid) == 842
    assert result.quarantined.empty


def test_missing_file_names_file_partition_and_rule(tmp_path):
    with pytest.raises(CTInputError) as err:
        ingest.read_landed(tmp_path / f"{KEY}.parquet", SPEC, KEY)
    assert "file_present" in str(err.value) and KEY in str(err.value)
    assert f"{KEY}.parquet" in str(err.value)


@pytest.mark.parametrize("content", [b"carrier,flight\nUA,1\n", b"PAR1\x00\x01truncated", b""])
def test_a_file_that_is_not_parquet_fails_its_partition(tmp_path, content):
    path = tmp_path / f"{KEY}.parquet"
    path.write_bytes(content)
    with pytest.raises(CTInputError, match="parquet_readable") as err:
        ingest.read_landed(path, SPEC, KEY)
    assert str(path) in str(err.value) and f"partition {KEY}" in str(err.value)


def test_renamed_and_missing_columns_are_named(tmp_path, real_day):
    frame = real_day.rename(columns={"dep_delay": "departure_delay"}).drop(columns=["tailnum"])
    with pytest.raises(CTInputError, match="columns_present") as err:
        load(tmp_path, frame)
    message = str(err.value)
    assert "dep_delay" in message and "tailnum" in message and "departure_delay" in message


def test_an_empty_day_fails_with_its_rule(tmp_path, real_day):
    with pytest.raises(CTInputError, match="non_empty"):
        load(tmp_path, real_day.iloc[0:0])


def test_a_column_of_the_wrong_type_throughout_fails_the_file(tmp_path, real_day):
    frame = real_day.assign(dep_delay="late")
    with pytest.raises(CTInputError, match="column_type") as err:
        load(tmp_path, frame)
    assert "dep_delay" in str(err.value)


def test_a_few_unparseable_values_quarantine_their_rows_with_the_value(tmp_path, real_day):
    frame = real_day.astype({"dep_delay": object})
    frame.loc[[3, 7], "dep_delay"] = ["abc", "12 min"]
    frame["dep_delay"] = frame["dep_delay"].map(lambda v: None if pd.isna(v) else str(v))
    result = split(tmp_path, frame)
    assert list(result.quarantined["_row"]) == [3, 7]
    assert "dep_delay='abc' is not float" in result.quarantined["reason"].iloc[0]
    assert result.reason_counts() == {"type": 2}


def test_absurd_values_are_quarantined_by_range(tmp_path, real_day):
    frame = real_day.copy()
    frame.loc[0, "distance"] = 0
    frame.loc[1, "distance"] = -50
    frame.loc[2, "dep_time"] = 2600
    result = split(tmp_path, frame)
    reasons = dict(zip(result.quarantined["_row"], result.quarantined["reason"], strict=True))
    assert reasons[0] == "distance=0 outside [1, 6000]"
    assert reasons[2] == "dep_time=2600 outside [1, 2400]"
    assert result.reason_counts() == {"range": 3}


def test_duplicates_unknown_codes_and_other_days(tmp_path, real_day):
    frame = pd.concat([real_day, real_day.iloc[[10, 11]]], ignore_index=True)
    frame.loc[20, "dest"] = "ZZZ"
    frame.loc[21, "origin"] = "BOS"
    frame.loc[22, "day"] = 2
    frame.loc[23, "carrier"] = None
    result = split(tmp_path, frame)
    assert result.reason_counts() == {"duplicate": 2, "allowed_values": 2, "partition_date": 1,
                                      "not_null": 1}
    dup = result.quarantined[result.quarantined["rules"] == "duplicate"]
    assert list(dup["_row"]) == [842, 843]
    assert dup["reason"].iloc[0].startswith("duplicate of row 10")
    other = result.quarantined[result.quarantined["rules"] == "partition_date"]
    assert other["reason"].iloc[0] == f"row dated 2013-01-02, outside partition {KEY}"


def test_a_row_breaking_several_rules_carries_all_of_them(tmp_path, real_day):
    frame = real_day.copy()
    frame.loc[5, ["distance", "origin"]] = [-1, "XXX"]
    result = split(tmp_path, frame)
    row = result.quarantined.iloc[0]
    assert row["rules"] == "allowed_values,range"  # in column order
    assert "distance=-1" in row["reason"] and "origin=XXX" in row["reason"]


def test_extra_columns_are_reported_not_fatal(tmp_path, real_day):
    path = tmp_path / f"{KEY}.parquet"
    real_day.assign(gate="B12").to_parquet(path, index=False)
    loaded = ingest.read_landed(path, SPEC, KEY)
    assert loaded.extra_columns == ["gate"]
    assert "gate" not in loaded.frame


def test_row_count_range_is_learned_from_history():
    assert validation.expected_row_range([900] * 5) is None
    low, high = validation.expected_row_range([700, 900, 950, 940, 930, 920, 880])
    assert (low, high) == (350, 1425)
    assert not low <= 95 <= high     # a tenth of a usual day is caught
    assert low <= 700 <= high        # a Saturday is not


def test_every_real_day_of_the_year_passes_almost_everything():
    """Calibration guard: the rules quarantine next to nothing of the real year."""
    flights = source.full_year("flights")
    quarantined = 0
    for (y, m, d), part in flights.groupby(["year", "month", "day"]):
        frame = part.reset_index(drop=True).assign(_row=np.arange(len(part)))
        quarantined += len(validation.split_rows(frame, SPEC, dt.date(y, m, d)).quarantined)
    assert quarantined / len(flights) < 0.001
