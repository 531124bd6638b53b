"""whylogs profiles of daily data, stored one file per day, merged into windows on demand.

The reference profile of any window is the merge of its daily profiles, so a drift check on
day D never rescans the rows of the 28 days before it.
"""

import datetime as dt
import logging
import os
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ct_assets.core.days import day_range
from ct_assets.core.errors import CTInputError

if TYPE_CHECKING:
    from whylogs.core import DatasetProfileView


def _whylogs():
    """whylogs, imported on first use: it takes over a second to import, which every Dagster
    run process would pay even when it never profiles."""
    os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "True")
    logging.getLogger("whylogs").setLevel(logging.ERROR)
    import whylogs

    return whylogs


# KLL quantile sketches compact at random once they hold more than k values, so the same data
# gave a different drift score from one run to the next (and `ct bench policies` different
# decisions). With k above the values of a 28-day window (about 26,000 flights at 1x) every
# daily profile and every window merge keeps all its values: quantiles, PSI bins and the
# range checks are exact and reproducible. Only larger windows fall back to approximation.
KLL_K = 1 << 15


def profile_frame(frame: pd.DataFrame, columns: list[str]) -> "DatasetProfileView":
    """Profile the given columns of `frame` (timestamps are left out: whylogs sketches values)."""
    why = _whylogs()
    from whylogs.core.metrics.metrics import MetricConfig
    from whylogs.core.resolvers import StandardResolver
    from whylogs.core.schema import DatasetSchema

    # The standard metrics, resolved directly: whylogs' default (declarative) resolver builds
    # every candidate metric once more just to read its name, half the cost of a profile.
    schema = DatasetSchema(resolvers=StandardResolver(),
                           default_configs=MetricConfig(kll_k_large=KLL_K, large_kll_k=True))
    return why.log(frame[columns], schema=schema).profile().view()


def deserialize(raw: bytes) -> "DatasetProfileView":
    return _whylogs().core.DatasetProfileView.deserialize(raw)


def profile_path(root: Path, name: str, day: dt.date) -> Path:
    return Path(root) / name / f"{day.isoformat()}.bin"


def write_profile(root: Path, name: str, day: dt.date, view: "DatasetProfileView") -> Path:
    """Write atomically: a reader sees the old profile or the new one, never half of one."""
    path = profile_path(root, name, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{day.isoformat()}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(view.serialize())
    os.replace(tmp, path)
    return path


# Each day's check merges the 28 days before it, so a range run over N days would deserialize
# about 28 * N profiles; a process keeps the last ones it read. Keyed by the file's identity
# (inode, mtime, size): a profile is rewritten by `os.replace`, so a rewrite is a new key.
# whylogs' merge copies its sketches, so a cached view is never changed by its readers.
_READ_CACHE: OrderedDict[tuple, "DatasetProfileView"] = OrderedDict()
READ_CACHE_SIZE = 96


def read_profile(root: Path, name: str, day: dt.date) -> "DatasetProfileView | None":
    """The stored profile of a day, None if there is none; a corrupt file is an error."""
    path = profile_path(root, name, day)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    key = (str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)
    if key in _READ_CACHE:
        _READ_CACHE.move_to_end(key)
        return _READ_CACHE[key]
    try:
        view = deserialize(path.read_bytes())
    except Exception as exc:  # whylogs raises several protobuf/decode types
        raise CTInputError("profile_readable", f"profile cannot be read ({exc})",
                           file=str(path), partition=day.isoformat()) from exc
    _READ_CACHE[key] = view
    if len(_READ_CACHE) > READ_CACHE_SIZE:
        _READ_CACHE.popitem(last=False)
    return view


def _merged(a: "DatasetProfileView | None", b: "DatasetProfileView | None"):
    return b if a is None else a if b is None else a.merge(b)


class SlidingMerge:
    """The merge of the profiles of a window of consecutive days that moves a day at a time,
    in about three merges per move instead of one per day of the window.

    Profiles merge but do not un-merge, so the oldest day cannot be taken out of a running
    total. Two stacks do without it: days enter the back (one merge into the back's total);
    when the oldest day must leave and the front is empty, the back is turned over into the
    front, each entry keeping the merge of itself and every newer entry of the front. The
    window's merge is then the front's oldest suffix merged with the back's total. A day whose
    profile does not count (it failed its checks, or has none) is kept as None, so the days
    stay in order.
    """

    def __init__(self) -> None:
        self._front: list[tuple[dt.date, DatasetProfileView | None]] = []   # oldest last
        self._back: list[tuple[dt.date, DatasetProfileView | None]] = []    # newest last
        self._back_total: DatasetProfileView | None = None

    def days(self) -> list[dt.date]:
        return [d for d, _ in reversed(self._front)] + [d for d, _ in self._back]

    def push(self, day: dt.date, view: "DatasetProfileView | None") -> None:
        self._back.append((day, view))
        self._back_total = _merged(self._back_total, view)

    def pop(self) -> dt.date:
        if not self._front:
            total = None
            for day, view in reversed(self._back):
                total = _merged(view, total)
                self._front.append((day, total))
            self._back, self._back_total = [], None
        return self._front.pop()[0]

    def merged(self) -> "DatasetProfileView | None":
        return _merged(self._front[-1][1] if self._front else None, self._back_total)


@dataclass
class WindowProfile:
    view: "DatasetProfileView | None"
    days: list[dt.date]
    missing: list[dt.date]


def merge_window(root: Path, name: str, start: dt.date, end: dt.date) -> WindowProfile:
    """Merge the daily profiles of [start, end) into one reference profile."""
    merged = None
    days, missing = [], []
    for day in day_range(start, end):
        view = read_profile(root, name, day)
        if view is None:
            missing.append(day)
            continue
        merged = view if merged is None else merged.merge(view)
        days.append(day)
    return WindowProfile(view=merged, days=days, missing=missing)
