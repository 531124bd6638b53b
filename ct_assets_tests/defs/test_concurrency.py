"""A 30-day backfill with the multiprocess executor, as three runs launched at once: every step
that opens the warehouse waits for the `warehouse` pool, so no run fails on DuckDB's lock."""

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb

from ct_assets.sources import nycflights13 as source
from ct_assets_tests.conftest import land_days
from ct_assets_tests.test_project import ROOT, env_for

DAGSTER = Path(sys.executable).parent / "dagster"


def launch(env, first: dt.date, last: dt.date) -> subprocess.Popen:
    tags = {"dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat()}
    return subprocess.Popen(
        [DAGSTER, "job", "execute", "-m", "ct_assets.definitions", "-j", "ingest_backfill_job",
         "--tags", json.dumps(tags)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_thirty_days_in_three_concurrent_multiprocess_runs_never_hit_the_lock(settings):
    days = land_days(settings, 30)
    env = env_for(settings.data_dir)
    # Create the instance's storage once, as `dagster dev` does, before two runs share it.
    subprocess.run([DAGSTER, "instance", "migrate"], env=env, check=True, capture_output=True)
    runs = [launch(env, days[i], days[i + 9]) for i in (0, 10, 20)]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output[-3000:]
        assert "Could not set lock" not in output
    # Step logs of parallel processes interleave on the pipes, so count outcomes in the instance.
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        runs = instance.get_runs()
        statuses = [run.status for run in runs]
        steps = [
            event for run in runs
            for event in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)]
    assert statuses == [dg.DagsterRunStatus.SUCCESS] * 3
    assert len(steps) == 9
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        counts = dict(conn.execute("SELECT ds, count(*) FROM raw_flights GROUP BY ds").fetchall())
        weather = conn.execute("SELECT count(DISTINCT ds) FROM raw_weather").fetchall()[0][0]
    assert counts == {d: len(source.day_frame("flights", d)) for d in days}
    assert weather == 30
    assert len(list((settings.profiles_dir / "flights").glob("*.bin"))) == 30
