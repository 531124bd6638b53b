"""The day-level verdicts of validation, kept in the warehouse beside the rows they judge.

Each validated table has a status table (`validation_status` for the flights,
`weather_validation_status` for the weather): one row per day, written in the same
transaction as the day's rows, so a reader never sees a day's rows without its verdict.
Features skip history days that failed, and every reference learned from earlier days (the
feed-anomaly profile, the row-count range, the weather baselines) uses only days that passed:
a lasting break must not dilute into the norm it is judged against.
"""

import datetime as dt

import pandas as pd

from ct_assets.core import features, warehouse

FLIGHTS_STATUS = "validation_status"
WEATHER_STATUS = "weather_validation_status"


def write_status(conn, table: str, day: dt.date, failed: list[str]) -> None:
    """Record the verdict of `day` (call inside the transaction that writes its rows)."""
    status = pd.DataFrame([{"ds": day, "passed": not failed,
                            "failed_checks": ",".join(failed) or None,
                            "checked_at": pd.Timestamp.now("UTC").tz_localize(None)}])
    warehouse.replace_partitions(conn, table, status, day, day + dt.timedelta(days=1),
                                 columns=features.VALIDATION_STATUS_COLUMNS)


def passed_days(conn, table: str, start: dt.date, end: dt.date) -> list[dt.date]:
    """Days in [start, end) that were validated and passed every blocking check."""
    table = warehouse.ident(table)
    if not warehouse.table_exists(conn, table):
        return []
    rows = conn.execute(f"SELECT ds FROM {table} WHERE ds >= ? AND ds < ? AND passed "
                        "ORDER BY ds", [start, end]).fetchall()
    return [r[0] for r in rows]


def failed_days(conn, table: str, start: dt.date, end: dt.date) -> dict[dt.date, str]:
    """Days in [start, end) that failed a blocking check, with the checks they failed."""
    table = warehouse.ident(table)
    if not warehouse.table_exists(conn, table):
        return {}
    rows = conn.execute(f"SELECT ds, failed_checks FROM {table} WHERE ds >= ? AND ds < ? "
                        "AND NOT passed ORDER BY ds", [start, end]).fetchall()
    return dict(rows)
