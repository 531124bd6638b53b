"""Validate the weather feed like the flights: every landed row either passes the declared
rules (types, physical ranges, known origins, date inside the partition, one report per origin
and hour) into `validated_weather`, or goes to `quarantined_weather` with its reasons; the day
as a whole must pass blocking checks before any feature reads it.

A unit change (pressure in inHg, temperature in °C, wind in km/h) is a day-level failure, not
a row-level one: most values leave their unit's measurement lattice or physical range, and
temperature, dew point and humidity stop agreeing. Features read `validated_weather` only, and
never the weather of a day that failed.
"""

import datetime as dt

import dagster as dg
import pandas as pd

from ct_assets.core import validation, warehouse
from ct_assets.defs.common import warehouse_columns
from ct_assets.defs.partitions import daily_partitions
from ct_assets.defs.validate import status
from ct_assets.sources import nycflights13 as source

SPEC = source.weather_spec()
VALIDATED_COLUMNS = warehouse_columns(SPEC, {"_row": "BIGINT"})
QUARANTINE_COLUMNS = warehouse_columns(SPEC, {"_row": "BIGINT", "rules": "VARCHAR",
                                              "reason": "VARCHAR"})
MIN_REPORTS_PER_ORIGIN = 12          # hourly reports of a complete day: 24 (Dec 30 2013: 19)
MAX_INCONSISTENT_SHARE = 0.5
# Largest jump of a day's mean temperature against the 3 days before it in clean 2013: 27 °F.
MAX_TEMP_JUMP_F = 28.0
BASELINE_DAYS = 3

CHECKS = [
    dg.AssetCheckSpec("weather_present", asset="validated_weather", blocking=True,
                      partitions_def=daily_partitions,
                      description=f"Every origin has at least {MIN_REPORTS_PER_ORIGIN} hourly "
                                  "reports that passed the row rules."),
    dg.AssetCheckSpec("weather_units_consistent", asset="validated_weather", blocking=True,
                      partitions_def=daily_partitions,
                      description="Each column on its unit's measurement lattice and within its "
                                  "physical range; temperature, dew point and humidity agree; the "
                                  f"day's mean temperature within {MAX_TEMP_JUMP_F:g} °F of the "
                                  f"{BASELINE_DAYS} passed days before."),
]


def raw_rows(conn, day: dt.date) -> pd.DataFrame:
    if not warehouse.table_exists(conn, "raw_weather"):
        return pd.DataFrame(columns=[*SPEC.names, "_row", "_issues"])
    return conn.execute("SELECT * EXCLUDE (ds) FROM raw_weather WHERE ds = ? ORDER BY _row",
                        [day]).df()


def _check_present(valid: pd.DataFrame, day: dt.date) -> dg.AssetCheckResult:
    counts = valid.groupby("origin").size().reindex(sorted(source.NYC_ORIGINS), fill_value=0)
    short = {o: int(n) for o, n in counts.items() if n < MIN_REPORTS_PER_ORIGIN}
    return dg.AssetCheckResult(
        check_name="weather_present", passed=not short,
        metadata={"reports_per_origin": dg.MetadataValue.json(
            {o: int(n) for o, n in counts.items()})},
        description=("every origin reported" if not short else
                     f"no usable origin weather for {day}" if len(valid) == 0 else
                     "too few hourly reports for " + ", ".join(
                         f"{o} ({n})" for o, n in short.items())
                     + f" (at least {MIN_REPORTS_PER_ORIGIN})"))


def _check_units(conn, rows: pd.DataFrame, day: dt.date) -> dg.AssetCheckResult:
    """Units and coherence of the day's landed weather rows (all of them, before quarantine:
    a unit change quarantines most rows for range, and the day must say why)."""
    problems = validation.unit_problems(rows, SPEC)
    complete = rows[["temp", "dewp", "humid"]].apply(pd.to_numeric, errors="coerce").dropna()
    mismatch = source.humidity_mismatch(complete)
    share = float((mismatch > source.WEATHER_MISMATCH_POINTS).mean()) if len(complete) else 0.0
    if share > MAX_INCONSISTENT_SHARE:
        problems.append(f"{share:.0%} of rows have humidity inconsistent with temperature and "
                        f"dew point (> {source.WEATHER_MISMATCH_POINTS:g} points)")
    baseline = status.passed_days(conn, status.WEATHER_STATUS,
                                  day - dt.timedelta(days=BASELINE_DAYS), day)
    jump = 0.0
    if baseline and len(complete):
        before = conn.execute(
            "SELECT avg(temp) FROM validated_weather WHERE list_contains(?, ds)",
            [baseline]).fetchall()[0][0]
        jump = abs(float(complete["temp"].mean()) - before) if before is not None else 0.0
    if jump > MAX_TEMP_JUMP_F:
        problems.append(f"mean temperature moved {jump:.1f} °F against the {len(baseline)} "
                        f"passed day(s) before (at most {MAX_TEMP_JUMP_F:g} in real weather)")
    return dg.AssetCheckResult(
        check_name="weather_units_consistent", passed=not problems,
        metadata={"inconsistent_share": round(share, 4), "temp_jump_f": round(jump, 2),
                  "baseline_days": ", ".join(map(str, baseline)) or "none"},
        description=("units and coherence as declared" if not problems else
                     "; ".join(problems) + ": units switched or columns mixed up?"))


def validate_day(conn, day: dt.date) -> dict:
    """Split, store and judge one day of weather; returns its checks and what the UI shows."""
    raw = raw_rows(conn, day)
    repaired, repairs = validation.repair(raw, SPEC)
    split = validation.split_rows(repaired, SPEC, day)
    valid = split.valid.assign(ds=day)
    quarantined = split.quarantined.assign(ds=day)
    checks = [_check_present(split.valid, day), _check_units(conn, repaired, day)]
    failed = [c.check_name for c in checks if not c.passed]
    end = day + dt.timedelta(days=1)
    with warehouse.transaction(conn):
        n_valid = warehouse.replace_partitions(conn, "validated_weather", valid, day, end,
                                               columns=VALIDATED_COLUMNS)
        n_quarantined = warehouse.replace_partitions(conn, "quarantined_weather", quarantined,
                                                     day, end, columns=QUARANTINE_COLUMNS)
        if n_valid + n_quarantined != len(raw):
            raise dg.Failure(f"weather {day}: {len(raw)} landed rows but {n_valid} validated + "
                             f"{n_quarantined} quarantined")
        status.write_status(conn, status.WEATHER_STATUS, day, failed)
    return {"day": day, "checks": checks, "landed": len(raw), "valid": n_valid,
            "quarantined": n_quarantined, "reasons": split.reason_counts(), "repairs": repairs,
            "examples": split.quarantined[["_row", "reason"]].head(10)}
