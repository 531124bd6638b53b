"""`ct bench drift` on two days: both detectors run, the injected unit change and the dead
weather feed are caught by ours, and the three result files are written."""

import argparse
import io
import json

import pytest
from rich.console import Console

from ct_assets.bench.drift import cli


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("drift-bench")
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    # Two checked days against 7-day windows, two shifts injected into the first, Evidently on
    # the first clean day (and every injected copy): the whole path in well under a minute.
    args = parser.parse_args(["--start", "2013-03-01", "--end", "2013-03-03", "--window", "7",
                              "--inject-every", "2", "--evidently-every", "2",
                              "--shifts", "pressure_inhg,weather_nulls", "--out", str(out)])
    console = Console(file=io.StringIO(), width=140)
    code = cli.run(args, console)
    return code, out, console.file.getvalue()


def test_the_run_writes_json_markdown_and_png(result):
    code, out, printed = result
    assert code == 0
    for name in ("drift.json", "drift.md", "drift.png"):
        assert (out / name).stat().st_size > 0
    assert "Evidently" in (out / "drift.md").read_text()
    assert "share of days flagged" in printed


def test_both_detectors_are_in_the_json(result):
    _, out, _ = result
    doc = json.loads((out / "drift.json").read_text())
    assert set(doc["summary"]["quality"]) == {"ours", "evidently", "evidently_any"}
    assert doc["meta"]["versions"]["evidently"]
    clean = doc["records"]["clean"]
    assert [r["day"] for r in clean] == ["2013-03-01", "2013-03-02"]
    assert "evidently" in clean[0] and "evidently" not in clean[1]
    assert [r["shift"] for r in doc["records"]["injected"]] == ["pressure_inhg", "weather_nulls"]
    for detector in ("ours", "evidently"):
        assert set(doc["summary"]["quality"][detector]["shifts"]) == {"pressure_inhg",
                                                                      "weather_nulls"}


def test_ours_flags_the_injected_pressure_units_and_the_dead_weather_feed(result):
    _, out, _ = result
    doc = json.loads((out / "drift.json").read_text())
    injected = {r["shift"]: r for r in doc["records"]["injected"]}
    for shift, column in (("pressure_inhg", "wx_pressure"), ("weather_nulls", "wx_temp")):
        ours = injected[shift]["ours"]
        assert ours["flagged"] and ours["score"] >= 1, shift
        assert column in ours["alarms"], ours["alarms"]
    # the same day untouched is quiet, so the alarms are the injections'
    assert not doc["records"]["clean"][0]["ours"]["flagged"]
    assert doc["summary"]["quality"]["ours"]["shifts"]["pressure_inhg"]["share"] == 1.0
    # Evidently judged the unit change; an all-null column is refused, and that is recorded
    assert "flagged" in injected["pressure_inhg"]["evidently"]
    assert "error" in injected["weather_nulls"]["evidently"] \
        or "flagged" in injected["weather_nulls"]["evidently"]


def test_latencies_are_measured(result):
    _, out, _ = result
    latency = json.loads((out / "drift.json").read_text())["summary"]["latency"]
    for key in ("ours_check", "ours_with_reference", "evidently"):
        assert latency[key]["n"] >= 1 and latency[key]["median_s"] > 0, key
    assert latency["ours_with_reference"]["median_s"] > latency["ours_check"]["median_s"]
    assert latency["ratio_evidently_over_ours_check"] > 0
