"""A tiny `ct bench pipeline` (2 measured days, scales 1 and 2) runs every asset through real
multiprocess Dagster runs and writes its report."""

import argparse
import io
import json

import pytest
from rich.console import Console

from ct_assets.bench.pipeline import cli
from ct_assets.definitions import ASSETS


def test_a_tiny_bench_runs_every_asset_at_two_scales_and_writes_its_report(tmp_path):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    # Jan 1-3 warm up (in-process runs), Jan 4-6 are measured; with a 4-day window (one day
    # held out) ending two days before the served day (the outcomes published by then), the
    # train chain runs on Jan 6 only. forkserver keeps each step's start-up short; the real
    # bench uses Dagster's default, spawn.
    args = parser.parse_args(["--first", "2013-01-04", "--days", "3", "--window", "4",
                              "--holdout", "1", "--n-estimators", "10", "--scales", "1,2",
                              "--start-method", "forkserver", "--out", str(tmp_path)])
    out = io.StringIO()
    assert cli.run(args, Console(file=out, width=200)) == 0

    doc = json.loads((tmp_path / "pipeline.json").read_text())
    assert doc["machine"]["cores"] >= 1 and doc["machine"]["dagster"]
    result = doc["benches"]["3 days, forkserver"]
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

    report = (tmp_path / "pipeline.md").read_text()
    assert "| figure | 1x | 2x | 2x / 1x |" in report
    assert "| share of wall time outside core/ |" in report
    assert "Machine: " in report and "dagster " in report
    assert (tmp_path / "pipeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "share of wall time outside core/" in out.getvalue()
