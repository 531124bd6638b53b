import datetime as dt

import pandas as pd
import pytest

from ct_assets.core import landing
from ct_assets.core.days import parse_day
from ct_assets.core.errors import InvalidPartitionKey


@pytest.mark.parametrize("key", ["../2013-01-01", "/etc/passwd", "2013-01-01'; DROP TABLE x;--",
                                 "2013-1-1", "2013-02-30", "", "2013-01-01/../../x"])
def test_bad_day_keys_are_refused_with_the_rule(key):
    with pytest.raises(InvalidPartitionKey, match="day_key"):
        parse_day(key)


def test_landed_path_stays_inside_the_landing_folder(tmp_path):
    assert landing.landed_path(tmp_path, "flights", "2013-01-05") == \
        tmp_path / "flights" / "2013-01-05.parquet"
    with pytest.raises(InvalidPartitionKey):
        landing.landed_path(tmp_path, "flights", "../../etc")
    with pytest.raises(ValueError, match="table_name"):
        landing.landed_path(tmp_path, "../flights", "2013-01-05")


def test_write_new_never_overwrites(tmp_path):
    path = landing.landed_path(tmp_path, "flights", dt.date(2013, 1, 1))
    assert landing.write_new(path, pd.DataFrame({"a": [1]}))
    before = landing.checksum(path)
    assert not landing.write_new(path, pd.DataFrame({"a": [2, 3]}))
    assert landing.checksum(path) == before
    assert [p.name for p in path.parent.iterdir()] == ["2013-01-01.parquet"]


def test_list_landed_separates_files_that_are_not_days(tmp_path):
    folder = tmp_path / "flights"
    folder.mkdir()
    for name in ("2013-01-02.parquet", "latest.parquet", "2013-13-01.parquet", "2013-01-03.csv"):
        (folder / name).write_bytes(b"x")
    days, rejected = landing.list_landed(tmp_path, "flights")
    assert list(days) == [dt.date(2013, 1, 2)]
    assert sorted(p.name for p in rejected) == ["2013-01-03.csv", "2013-13-01.parquet",
                                                "latest.parquet"]
