"""The landing sensor: every file that lands (or lands again, changed) is ingested once.

The run key is table + day + the file's SHA-256, so an unchanged re-delivery is a no-op and a
changed one is re-ingested. The cursor remembers each file's size, mtime and checksum so a tick
hashes only files that changed since the last one.
"""

import json
from pathlib import Path

import dagster as dg

from ct_assets.core import landing
from ct_assets.defs.ingest.assets import raw_flights, raw_weather
from ct_assets.defs.partitions import daily_partitions
from ct_assets.resources import LandingResource

LANDED_TABLES = {"flights": raw_flights, "weather": raw_weather}


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
        for path in rejected:
            skipped.append(f"{path} (name is not <YYYY-MM-DD>.parquet)")
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
            if previous and previous[2] == digest:
                continue
            requests.append(dg.RunRequest(
                run_key=f"{table}:{key}:{digest}",
                asset_selection=[asset.key],
                partition_key=key,
                tags={"ct/landed_file": str(path), "ct/sha256": digest[:16]},
            ))
    for item in skipped:
        context.log.warning(f"not ingested: {item}")
    if requests:
        context.log.info(f"{len(requests)} landed file(s) to ingest")
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))
