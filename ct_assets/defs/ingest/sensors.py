"""The landing sensor: every file that lands (or lands again, changed) is ingested once.

The run key is table + day + the file's SHA-256, so an unchanged re-delivery is a no-op and a
changed one is re-ingested. Consecutive days that land together (a catch-up, `ct replay
--days 60`) are ingested in one run per range, its key made of every day's checksum: a run
costs seconds of start-up, a day of ingest costs milliseconds. The cursor remembers each file's
size, mtime and checksum so a tick hashes only files that changed since the last one. A file
that looks broken (unreadable, empty, columns missing or retyped) is ingested in a run of its
own, so it fails alone and the days that landed with it go on.
"""

import datetime as dt
import hashlib
import json
from pathlib import Path

import dagster as dg

from ct_assets.core import ingest, landing
from ct_assets.defs.ingest.assets import raw_flights, raw_weather
from ct_assets.defs.partitions import daily_partitions
from ct_assets.resources import LandingResource
from ct_assets.sources.nycflights13 import SPECS

LANDED_TABLES = {"flights": raw_flights, "weather": raw_weather}
MAX_DAYS_PER_RUN = 31


def _batches(days: list[dt.date], max_days: int) -> list[list[dt.date]]:
    """Consecutive days in runs of at most `max_days` (one run per range, not per day)."""
    batches: list[list[dt.date]] = []
    for day in sorted(days):
        if batches and day - batches[-1][-1] == dt.timedelta(days=1) \
                and len(batches[-1]) < max_days:
            batches[-1].append(day)
        else:
            batches.append([day])
    return batches


def _run_request(asset, table: str, batch: list[dt.date], digests: dict[dt.date, str]):
    first, last = batch[0].isoformat(), batch[-1].isoformat()
    if len(batch) == 1:
        run_key = f"{table}:{first}:{digests[batch[0]]}"
    else:
        combined = hashlib.sha256("".join(digests[d] for d in batch).encode()).hexdigest()
        run_key = f"{table}:{first}..{last}:{combined}"
    return dg.RunRequest(
        run_key=run_key,
        asset_selection=[asset.key],
        tags={"dagster/asset_partition_range_start": first,
              "dagster/asset_partition_range_end": last,
              "ct/landed_days": str(len(batch))},
    )


@dg.sensor(
    name="landing_sensor",
    target=[raw_flights, raw_weather],
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests the ingest of each landed day file (new or changed).",
)
def landing_sensor(context: dg.SensorEvaluationContext,
                   landing_folder: LandingResource) -> dg.SensorResult:
    seen: dict[str, list] = json.loads(context.cursor) if context.cursor else {}
    valid_keys = set(daily_partitions.get_partition_keys())
    requests, skipped = [], []
    for table, asset in LANDED_TABLES.items():
        files, rejected = landing.list_landed(Path(landing_folder.root), table)
        skipped += [f"{path} (name is not <YYYY-MM-DD>.parquet)" for path in rejected]
        changed: dict[dt.date, str] = {}
        for day, path in files.items():
            key = day.isoformat()
            if key not in valid_keys:
                skipped.append(f"{path} (day {key} is outside the partitions)")
                continue
            stat = path.stat()
            slot = f"{table}/{key}"
            previous = seen.get(slot)
            if previous and previous[:2] == [stat.st_size, stat.st_mtime_ns]:
                continue
            digest = landing.checksum(path)
            seen[slot] = [stat.st_size, stat.st_mtime_ns, digest]
            if not previous or previous[2] != digest:
                changed[day] = digest
        spec = SPECS[table]()
        suspect = {}
        for day in changed:
            problem = ingest.preflight(files[day], spec)
            if problem:
                suspect[day] = problem
                context.log.warning(f"{files[day]}: {problem}; ingesting it in a run of its own")
        healthy = [d for d in changed if d not in suspect]
        requests += [_run_request(asset, table, batch, changed)
                     for batch in _batches(healthy, MAX_DAYS_PER_RUN)]
        requests += [_run_request(asset, table, [day], changed) for day in sorted(suspect)]
    for item in skipped:
        context.log.warning(f"not ingested: {item}")
    if requests:
        context.log.info(f"{len(requests)} ingest run(s) for newly landed or changed files")
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))
