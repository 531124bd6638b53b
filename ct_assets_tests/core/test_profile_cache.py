"""A process reads each stored profile once; a rewritten or corrupted file is read again."""

import datetime as dt

import pandas as pd
import pytest

from ct_assets.core import profiles
from ct_assets.core.errors import CTInputError

DAY = dt.date(2013, 1, 5)


def _view(values):
    return profiles.profile_frame(pd.DataFrame({"x": values}), ["x"])


def _count(view) -> int:
    return view.get_column("x").get_metric("counts").n.value


def test_a_profile_is_deserialized_once_and_a_rewrite_is_seen(tmp_path, monkeypatch):
    profiles.write_profile(tmp_path, "t", DAY, _view([1.0, 2.0]))
    calls = []
    real = profiles.deserialize
    monkeypatch.setattr(profiles, "deserialize", lambda raw: calls.append(1) or real(raw))
    first = profiles.read_profile(tmp_path, "t", DAY)
    assert profiles.read_profile(tmp_path, "t", DAY) is first and len(calls) == 1
    merged = first.merge(first)                       # readers merge; the cached view stays
    assert _count(merged) == 4 and _count(profiles.read_profile(tmp_path, "t", DAY)) == 2
    profiles.write_profile(tmp_path, "t", DAY, _view([1.0, 2.0, 3.0]))
    assert _count(profiles.read_profile(tmp_path, "t", DAY)) == 3 and len(calls) == 2


def test_a_profile_corrupted_after_a_read_is_an_error(tmp_path):
    path = profiles.write_profile(tmp_path, "t", DAY, _view([1.0, 2.0]))
    assert profiles.read_profile(tmp_path, "t", DAY) is not None
    path.write_bytes(b"not a profile")
    with pytest.raises(CTInputError):
        profiles.read_profile(tmp_path, "t", DAY)
    path.unlink()
    assert profiles.read_profile(tmp_path, "t", DAY) is None
