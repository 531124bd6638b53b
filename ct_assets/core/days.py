"""Calendar-day partition keys: parsing, validation and ranges.

Keys reach paths and queries, so they are validated strictly before use: exactly `YYYY-MM-DD`
and a real date. Anything else (`../x`, `/etc`, `2013-01-01'; drop table`) is refused.
"""

import datetime as dt
import re
from collections.abc import Iterator

from ct_assets.core.errors import InvalidPartitionKey

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_day(key: str, *, file: str | None = None) -> dt.date:
    """Return the date of a `YYYY-MM-DD` key, or raise InvalidPartitionKey naming the key."""
    if not isinstance(key, str) or not _DAY.fullmatch(key):
        raise InvalidPartitionKey("day_key", f"{key!r} is not a YYYY-MM-DD day", file=file)
    try:
        return dt.date.fromisoformat(key)
    except ValueError as exc:
        raise InvalidPartitionKey("day_key", f"{key!r} is not a calendar day", file=file) from exc


def day_range(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    """Days in [start, end)."""
    day = start
    while day < end:
        yield day
        day += dt.timedelta(days=1)
