"""`ct bench pipeline`: the resampled feed still validates, the run plan covers every asset in
dependency order, the wall-time sweep adds up, and a tiny bench (2 measured days, scales 1 and 2)
runs every asset through real multiprocess Dagster runs and writes its report."""

import argparse
import datetime as dt
import io
import json

import numpy as np
import pytest
from rich.console import Console

from ct_assets.bench import pipeline
from ct_assets.core import validation
from ct_assets.definitions import ASSETS
from ct_assets.sources import nycflights13 as source


@pytest.mark.parametrize("day", [dt.date(2013, 1, 1), dt.date(2013, 7, 4), dt.date(2013, 12, 31)])
def test_ten_times_the_flights_still_pass_every_row_rule(day):
    real = source.day_frame("flights", day)
    scaled = pipeline.scale_flights(real, 10, np.random.default_rng(day.toordinal()))
    split = validation.split_rows(scaled, source.flights_spec(), day)
    assert len(scaled) == 10 * len(real)
    assert split.quarantined.empty, split.reason_counts()
    assert scaled.dtypes.equals(real.dtypes)
    assert not scaled.duplicated(["carrier", "flight", "origin"]).any()
    copies = scaled.iloc[len(real):]
    assert (copies["time_hour"].to_numpy() == np.tile(real["time_hour"].to_numpy(), 9)).all()
    assert (copies["sched_dep_time"] == copies["hour"] * 100 + copies["minute"]).all()


def test_the_run_plan_covers_every_asset_once_after_its_dependencies():
    groups = pipeline.plan_groups(ASSETS)
    planned = [name for g in groups for name in g.assets]
    names = [key.to_user_string() for asset in ASSETS for key in asset.keys]
    assert sorted(planned) == sorted(names)
    done = set()
    for group in groups:
        for asset in ASSETS:
            for key in asset.keys:
                if key.to_user_string() in group.assets:
                    deps = {d.to_user_string() for d in asset.asset_deps[key]}
                    assert deps & set(names) <= done | set(group.assets)
        done |= set(group.assets)
    mode = {name: g.mode for g in groups for name in g.assets}
    assert mode["validated_flights"] == pipeline.DAY
    assert mode["raw_flights"] == pipeline.RANGE and mode["reference_tables"] == pipeline.ONCE
    needs = {name for g in groups if g.needs_model for name in g.assets}
    assert {"candidate_model", "champion_model"} <= needs and "flight_features" not in needs


def test_the_sweep_gives_each_instant_to_one_category():
    split = pipeline.sweep([(0, 10, "step_other"), (2, 4, "core"), (3, 6, "registry"),
                            (9, 12, "step_startup")], 0, 15)
    # 0-2 step, 2-4 core (over step and registry), 4-6 registry, 6-10 step (over start-up),
    # 10-12 start-up, 12-15 nothing
    assert split == {"core": 2, "registry": 2, "step_other": 6, "step_startup": 2,
                     "between_steps": 3}


def test_a_tiny_bench_runs_every_asset_at_two_scales_and_writes_its_report(tmp_path):
    parser = argparse.ArgumentParser()
    pipeline.add_arguments(parser)
    # Jan 1-3 warm up (in-process runs), Jan 4-5 are measured; with a 4-day window (one day
    # held out) the train chain runs on Jan 5 only. forkserver keeps each step's start-up
    # short; the real bench uses Dagster's default, spawn.
    args = parser.parse_args(["--first", "2013-01-04", "--days", "2", "--window", "4",
                              "--holdout", "1", "--n-estimators", "10", "--scales", "1,2",
                              "--start-method", "forkserver", "--out", str(tmp_path)])
    out = io.StringIO()
    assert pipeline.run(args, Console(file=out, width=200)) == 0

    doc = json.loads((tmp_path / "pipeline.json").read_text())
    assert doc["machine"]["cores"] >= 1 and doc["machine"]["dagster"]
    result = doc["benches"]["2 days, forkserver"]
    assert result["trained_from"] == "2013-01-05" and result["warmup_days"] == 3
    one, two = result["scales"]["1"], result["scales"]["2"]
    assert two["landed_flights"] == 2 * one["landed_flights"] > 1500
    for table in ("validated_flights", "flight_features", "daily_predictions"):
        assert one["rows"][table] > 0
        assert two["rows"][table] == pytest.approx(2 * one["rows"][table], rel=0.02)
    every = {key.to_user_string() for asset in ASSETS for key in asset.keys}
    for scale in (one, two):
        assert scale["failed_runs"] == []
        assert set(scale["stages"]) == every
        assert scale["stages"]["validated_flights"]["steps"] == 2
        assert scale["stages"]["candidate_model"]["steps"] == 1
        assert scale["wall_s"] > 0 and scale["split_s"]["core"] > 0
        assert sum(scale["split_s"].values()) == pytest.approx(scale["wall_s"])
        assert 0 < scale["share_outside_core"] < 1
        assert scale["cpu_s"] > scale["cpu_split_s"]["core"] > 0
        assert scale["cpu_split_s"]["driver"] > 0 and 0 < scale["cpu_share_outside_core"] < 1
        assert scale["peak_tree_rss_mb"] > scale["peak_process_rss_mb"] > 50

    report = (tmp_path / "pipeline.md").read_text()
    assert "| figure | 1x | 2x | 2x / 1x |" in report
    assert "| share of wall time outside core/ |" in report
    assert "Machine: " in report and "dagster " in report
    assert (tmp_path / "pipeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "share of wall time outside core/" in out.getvalue()
