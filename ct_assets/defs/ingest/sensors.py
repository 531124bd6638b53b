"""The landing sensor: every file that lands (or lands again, changed) is ingested once, in a
run that carries its days on through the daily stages.

The run key is the tables + days + the files' SHA-256, so an unchanged re-delivery is a no-op
and a changed one is re-ingested. Consecutive days that land together (a catch-up, `ct replay
--days 60`) are ingested in one run per range, its key made of every file's checksum: a run
costs seconds of start-up, a day of ingest costs milliseconds. The cursor remembers each file's
size, mtime and checksum so a tick hashes only files that changed since the last one. A file
that looks broken (unreadable, empty, columns missing or retyped) is ingested in a run of its
own (with the other files of its day), so it fails alone and the days that landed with it go on.

The run does not stop at ingest: it also materializes, for the same days, every daily stage
that automation would request next and that needs no model decision (profile, validation,
labels, features, serving, monitoring: `FOLLOW_ON`). Left to automation, each stage would wait
for an automation tick and then for Dagster's backfill daemon, which starts a range run only on
its 30 s loop: landing to features took three such waits. Automation still does everything
else: a day refused inside the run, a later day whose history window read a re-landed day, the
days a new champion must serve.
"""

import datetime as dt
import hashlib
import json
from pathlib import Path

import dagster as dg

from ct_assets.core import ingest, landing
from ct_assets.defs.features.assets import flight_features, flight_labels
from ct_assets.defs.ingest.assets import raw_flights, raw_weather, reference_tables
from ct_assets.defs.monitor.assets import SCORING
from ct_assets.defs.partitions import daily_partitions
from ct_assets.defs.validate.assets import flight_profile, validated_flights, validated_weather
from ct_assets.resources import LandingResource
from ct_assets.sources.nycflights13 import SPECS

LANDED_TABLES = {"flights": raw_flights, "weather": raw_weather}
# What each landed table sets going, for its days, in the same run as its ingest.
FOLLOW_ON = {
    "flights": [raw_flights, flight_profile, validated_flights, flight_labels, flight_features,
                *SCORING],
    "weather": [raw_weather, validated_weather, flight_features, *SCORING],
}
# One run for a whole catch-up: ranges of one run are processed in day order, while the steps
# of several runs interleave in the warehouse pool (a later range could be validated before
# the earlier one it takes its references from).
MAX_DAYS_PER_RUN = 366


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


def _run_request(tables: tuple[str, ...], batch: list[dt.date],
                 digests: dict[str, dict[dt.date, str]], first_ingest: bool) -> dg.RunRequest:
    first, last = batch[0].isoformat(), batch[-1].isoformat()
    if len(batch) == 1 and len(tables) == 1:
        run_key = f"{tables[0]}:{first}:{digests[tables[0]][batch[0]]}"
    else:
        combined = hashlib.sha256("".join(digests[t][d] for t in tables for d in batch)
                                  .encode()).hexdigest()
        run_key = f"{'+'.join(tables)}:{first}..{last}:{combined}"
    assets = [a for t in tables for a in FOLLOW_ON[t]]
    if first_ingest:               # features join the planes: load them before the first day
        assets.insert(0, reference_tables)
    return dg.RunRequest(
        run_key=run_key,
        asset_selection=list(dict.fromkeys(a.key for a in assets)),
        tags={"dagster/asset_partition_range_start": first,
              "dagster/asset_partition_range_end": last,
              "ct/landed_days": str(len(batch)),
              "ct/landed_tables": ",".join(tables)},
    )


@dg.sensor(
    name="landing_sensor",
    target=list({a.key: a for chain in FOLLOW_ON.values() for a in chain}.values())
    + [reference_tables],
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests the ingest of each landed day file (new or changed), and the daily "
                "stages of its days up to serving and monitoring, in one run per range.",
)
def landing_sensor(context: dg.SensorEvaluationContext,
                   landing_folder: LandingResource) -> dg.SensorResult:
    seen: dict[str, list] = json.loads(context.cursor) if context.cursor else {}
    valid_keys = set(daily_partitions.get_partition_keys())
    skipped: list[str] = []
    changed: dict[str, dict[dt.date, str]] = {}        # table -> day -> checksum
    suspect: set[dt.date] = set()
    for table in LANDED_TABLES:
        files, rejected = landing.list_landed(Path(landing_folder.root), table)
        skipped += [f"{path} (name is not <YYYY-MM-DD>.parquet)" for path in rejected]
        changed[table] = {}
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
                changed[table][day] = digest
        spec = SPECS[table]()
        for day in changed[table]:
            problem = ingest.preflight(files[day], spec)
            if problem:
                suspect.add(day)
                context.log.warning(f"{files[day]}: {problem}; ingesting its day in a run of "
                                    "its own")
    # Days grouped by which tables landed for them; a suspect day runs alone.
    by_tables: dict[tuple[str, ...], list[dt.date]] = {}
    alone = []
    for day in sorted({d for days in changed.values() for d in days}):
        tables = tuple(t for t in LANDED_TABLES if day in changed[t])
        if day in suspect:
            alone.append((tables, day))
        else:
            by_tables.setdefault(tables, []).append(day)
    first_ingest = context.instance.get_latest_materialization_event(
        reference_tables.key) is None
    requests = [_run_request(tables, batch, changed, first_ingest)
                for tables, days in by_tables.items()
                for batch in _batches(days, MAX_DAYS_PER_RUN)]
    requests += [_run_request(tables, [day], changed, first_ingest) for tables, day in alone]
    for item in skipped:
        context.log.warning(f"not ingested: {item}")
    if requests:
        context.log.info(f"{len(requests)} ingest run(s) for newly landed or changed files")
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))
