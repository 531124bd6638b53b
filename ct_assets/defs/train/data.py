"""Reading training and evaluation data out of the warehouse, with the window's preconditions."""

import datetime as dt
import hashlib
import json

import pandas as pd
import pyarrow as pa

from ct_assets.core import warehouse
from ct_assets.core.days import day_range
from ct_assets.core.features import FEATURE_NAMES, KEY_COLUMNS

LABELLED_FEATURES = f"""
SELECT f.ds, f.carrier, f.flight, f.origin, {", ".join(f"f.{c}" for c in FEATURE_NAMES
                                                       if c not in ("carrier", "origin"))},
       l.is_delayed
FROM flight_features f
JOIN flight_labels l USING ({", ".join(KEY_COLUMNS)})
WHERE f.ds >= ? AND f.ds < ?
ORDER BY f.ds, f.carrier, f.flight, f.origin
"""


class WindowNotReady(ValueError):
    """A training window with a day that is missing or failed validation."""


def check_window(conn, start: dt.date, end: dt.date) -> None:
    """Refuse a window unless every day passed validation and has features and labels."""
    days = list(day_range(start, end))
    status = dict(conn.execute("SELECT ds, passed FROM validation_status WHERE ds >= ? AND ds < ?",
                               [start, end]).fetchall()) \
        if warehouse.table_exists(conn, "validation_status") else {}
    featured = warehouse.counts_by_day(conn, "flight_features", start, end)
    labelled = warehouse.counts_by_day(conn, "flight_labels", start, end)
    failed = [d for d in days if status.get(d) is False]
    missing = [d for d in days if d not in status or d not in featured or d not in labelled]
    problems = []
    if failed:
        problems.append("failed blocking checks: " + ", ".join(map(str, failed)))
    if missing:
        problems.append("missing validation, features or labels: " + ", ".join(map(str, missing)))
    if problems:
        raise WindowNotReady(f"window {start}..{end - dt.timedelta(days=1)}: "
                             + "; ".join(problems))


def labelled_features(conn, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Feature rows with their labels: `ds` as `datetime.date` (as days are everywhere),
    `is_delayed` a nullable boolean (NULL until the outcome is known)."""
    table = conn.execute(LABELLED_FEATURES, [start, end]).fetch_arrow_table()
    # through Arrow: the same frame as DuckDB's `.df()` then `.dt.date`, in half the time
    return table.to_pandas(date_as_object=True,
                           types_mapper={pa.bool_(): pd.BooleanDtype()}.get)


def fingerprint(frame: pd.DataFrame, params: dict, code: str) -> str:
    """Identity of a training: its exact input rows, parameters and code."""
    rows = pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
    digest = hashlib.sha256(rows)
    digest.update(json.dumps(params, sort_keys=True, default=str).encode())
    digest.update(code.encode())
    return digest.hexdigest()


def input_manifest(conn, start: dt.date, end: dt.date) -> list[dict]:
    """Per input day: the landed files (with checksums) its features were built from."""
    rows = conn.execute(
        "SELECT ds, source_table, path, sha256, rows FROM landed_files "
        "WHERE ds >= ? AND ds < ? ORDER BY ds, source_table", [start, end]).fetchall()
    return [{"ds": str(ds), "table": table, "path": path, "sha256": sha, "rows": n}
            for ds, table, path, sha, n in rows]
