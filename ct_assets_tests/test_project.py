"""The project as a user meets it: definitions load, the UI serves the asset graph, `ct` works."""

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd

from ct_assets.cli import main as ct

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ASSETS = {"raw_flights", "raw_weather", "reference_tables", "flight_profile",
          "validated_flights", "validated_weather", "flight_features", "flight_labels",
          "candidate_model",
          "model_evaluation", "champion_model", "daily_predictions", "model_performance",
          "feature_drift", "trigger_policy"}


def env_for(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ, CT_DATA_DIR=str(data_dir), DAGSTER_HOME=str(data_dir / "home"))
    (data_dir / "home").mkdir(parents=True, exist_ok=True)
    (data_dir / "home" / "dagster.yaml").write_text(
        (ROOT / "ct_assets" / "dagster.yaml").read_text())
    return env


def test_dagster_definitions_validate(tmp_path):
    result = subprocess.run([BIN / "dagster", "definitions", "validate", "-m",
                             "ct_assets.definitions"], cwd=ROOT, env=env_for(tmp_path),
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Validation successful" in result.stdout + result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_webserver_serves_the_asset_graph_on_loopback(tmp_path):
    port = _free_port()
    proc = subprocess.Popen([BIN / "dagster-webserver", "-m", "ct_assets.definitions",
                             "-h", "127.0.0.1", "-p", str(port)], cwd=ROOT,
                            env=env_for(tmp_path), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    query = json.dumps({"query": "{ assetNodes { assetKey { path } groupName } }"}).encode()
    try:
        deadline = time.monotonic() + 150
        while True:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=query,
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=10) as response:
                    nodes = json.load(response)["data"]["assetNodes"]
                break
            except (OSError, KeyError):
                assert proc.poll() is None, "the webserver exited"
                assert time.monotonic() < deadline, "the webserver did not answer in time"
                time.sleep(1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    groups = {n["assetKey"]["path"][-1]: n["groupName"] for n in nodes}
    assert set(groups) == ASSETS
    assert groups["validated_flights"] == "validate" and groups["flight_features"] == "features"
    assert groups["champion_model"] == "train" and groups["daily_predictions"] == "serve"


def test_replay_lands_days_once_and_never_overwrites(settings, capsys):
    assert ct(["replay", "--days", "3"]) == 0
    files = sorted(p.relative_to(settings.landing_dir).as_posix()
                   for p in settings.landing_dir.rglob("*.parquet"))
    assert files == [f"{t}/2013-01-0{d}.parquet" for t in ("flights", "weather")
                     for d in (1, 2, 3)]
    flights = pd.read_parquet(settings.landing_dir / "flights" / "2013-01-02.parquet")
    assert len(flights) == 943 and str(flights["time_hour"].dtype).startswith("datetime64")
    stamp = (settings.landing_dir / "flights" / "2013-01-02.parquet").stat().st_mtime_ns
    capsys.readouterr()
    assert ct(["replay", "--through", "2013-01-03"]) == 0
    assert "0 file(s) landed, 6 already there and kept" in capsys.readouterr().out
    assert (settings.landing_dir / "flights" / "2013-01-02.parquet").stat().st_mtime_ns == stamp
    assert ct(["replay", "--next", "2"]) == 0
    assert (settings.landing_dir / "weather" / "2013-01-05.parquet").exists()
    assert not (settings.landing_dir / "weather" / "2013-01-06.parquet").exists()


def test_replay_can_land_a_shift_in_the_world(settings):
    from ct_assets.sources import nycflights13 as source

    assert ct(["replay", "--days", "1", "--delay-shift", "90"]) == 0
    landed = pd.read_parquet(settings.landing_dir / "flights" / "2013-01-01.parquet")
    real = source.day_frame("flights", dt.date(2013, 1, 1))
    moved = landed["dep_delay"] - real["dep_delay"]
    assert len(landed) == len(real) == 842
    assert moved.dropna().eq(90).mean() > 0.99                  # a few clipped at the bound
    assert landed["dep_delay"].max() <= source.flights_spec().column("dep_delay").max


def test_replay_refuses_a_bad_day(settings, capsys):
    assert ct(["replay", "--through", "../2013-01-03"]) == 2
    assert "day_key" in capsys.readouterr().out


def test_bench_features_smoke(tmp_path):
    out = tmp_path / "benchmarks"
    result = subprocess.run([sys.executable, "-m", "ct_assets.cli", "bench", "features",
                             "--start", "2013-01-01", "--end", "2013-01-08", "--repeat", "1",
                             "--check-days", "7", "--out", str(out)], cwd=ROOT,
                            env=env_for(tmp_path), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "pandas merge_asof" in result.stdout and "rows/s" in result.stdout
    assert "identical" in result.stdout
    doc = json.loads((out / "features.json").read_text())
    assert [r["name"] for r in doc["results"]] == ["duckdb", "pandas"]
    assert doc["results"][0]["rows"] == doc["results"][1]["rows"] > 0
    assert doc["cross_check"]["identical"]
    assert "pandas merge_asof" in (out / "features.md").read_text()


def test_bench_train_smoke(tmp_path):
    out = tmp_path / "benchmarks"
    result = subprocess.run([sys.executable, "-m", "ct_assets.cli", "bench", "train",
                             "--window", "7", "--holdout", "2", "--history-days", "0",
                             "--month-days", "2", "--n-estimators", "20", "--out", str(out)],
                            cwd=ROOT, env={**env_for(tmp_path), "TMPDIR": str(tmp_path)},
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "through Dagster" in result.stdout and "month of daily retrains" in result.stdout
    assert "orchestration overhead" in result.stdout
    assert "2 retrains" in result.stdout
    doc = json.loads((out / "train.json").read_text())
    assert len(doc["timings"]) == 4 and doc["timings"][2]["vs_core_calls"] == 1.0
    assert doc["meta"]["command"] == ("ct bench train --window 7 --holdout 2 --history-days 0 "
                                      "--month-days 2 --n-estimators 20")
    assert "through Dagster" in (out / "train.md").read_text()
