"""A tiny `ct bench pipeline` (3 measured days) runs every asset through real Dagster runs and
writes its report: at scales 1 and 2 with the project's runs (the default), and at scale 1 with
the multiprocess executor."""

import argparse
import io
import json

import pytest
from rich.console import Console

from ct_assets.bench.pipeline import cli
from ct_assets.definitions import ASSETS

# Jan 1-3 warm up (in-process runs), Jan 4-6 are measured; with a 4-day window (one day held
# out) ending two days before the served day (the outcomes published by then), the train chain
# runs on Jan 6 only.
TINY = ["--first", "2013-01-04", "--days", "3", "--window", "4", "--holdout", "1",
        "--n-estimators", "10"]


def bench(tmp_path, *extra: str) -> tuple[dict, str]:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args([*TINY, *extra, "--out", str(tmp_path)])
    out = io.StringIO()
    assert cli.run(args, Console(file=out, width=200)) == 0
    return json.loads((tmp_path / "pipeline.json").read_text()), out.getvalue()


def test_a_tiny_bench_runs_every_asset_at_two_scales_and_writes_its_report(tmp_path):
    doc, printed = bench(tmp_path, "--scales", "1,2")
    assert doc["machine"]["cores"] >= 1 and doc["machine"]["dagster"]
    result = doc["benches"]["3 days, project runs"]
    assert result["executor"] == "project"
    assert result["trained_from"] == "2013-01-06" and result["warmup_days"] == 3
    one, two = result["scales"]["1"], result["scales"]["2"]
    assert two["landed_flights"] == 2 * one["landed_flights"] > 1500
    for table in ("validated_flights", "flight_features", "daily_predictions"):
        assert one["rows"][table] > 0
        assert two["rows"][table] == pytest.approx(2 * one["rows"][table], rel=0.02)
    every = {key.to_user_string() for asset in ASSETS for key in asset.keys}
    for scale in (one, two):
        assert scale["failed_runs"] == []
        assert set(scale["stages"]) == every
        assert scale["stages"]["validated_flights"]["steps"] == 1      # one range run
        assert scale["stages"]["candidate_model"]["steps"] == 1
        assert scale["wall_s"] > 0 and scale["split_s"]["core"] > 0
        assert sum(scale["split_s"].values()) == pytest.approx(scale["wall_s"])
        assert 0 < scale["share_outside_core"] < 1
        assert scale["cpu_s"] > scale["cpu_split_s"]["core"] > 0
        assert scale["cpu_split_s"]["driver"] > 0 and 0 < scale["cpu_share_outside_core"] < 1
        assert scale["peak_tree_rss_mb"] > scale["peak_process_rss_mb"] > 50

        # each run in a process of its own (forked, as the project's launcher starts them),
        # all of its steps in that process
        assert scale["step_processes"] == scale["runs"] < scale["steps"]

    report = (tmp_path / "pipeline.md").read_text()
    assert "| figure | 1x | 2x | 2x / 1x |" in report
    assert "| share of wall time outside core/ |" in report
    assert "Machine: " in report and "dagster " in report and "project runs" in report
    assert (tmp_path / "pipeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "share of wall time outside core/" in printed


def test_the_multiprocess_executor_runs_each_step_in_a_process_of_its_own(tmp_path):
    # forkserver keeps each step's start-up short; the real bench uses Dagster's default, spawn
    doc, _ = bench(tmp_path, "--scales", "1", "--executor", "multiprocess",
                   "--start-method", "forkserver")
    result = doc["benches"]["3 days, forkserver"]
    scale = result["scales"]["1"]
    assert result["executor"] == "multiprocess" and scale["failed_runs"] == []
    assert scale["rows"]["daily_predictions"] > 0
    assert scale["step_processes"] == scale["steps"] > scale["runs"]
    assert scale["split_s"]["step_startup"] > 0 and scale["cpu_split_s"]["driver"] > 0
