"""`ct bench policies` writes the JSON, Markdown and PNG it promises, keeps the hand-written
analysis of policies.md on a re-render, and refuses unknown policies."""

import argparse
import io
import json

import pytest
from rich.console import Console

from ct_assets.bench.policies import cli
from ct_assets.bench.policies.markdown import ANALYSIS_MARKER
from ct_assets.bench.policies.specs import parse_policies


def test_the_command_writes_the_promised_files(tmp_path):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--start", "2013-02-01", "--end", "2013-02-12",
                              "--policies", "weekly,static", "--n-estimators", "30",
                              "--out", str(tmp_path)])
    out = io.StringIO()
    assert cli.run(args, Console(file=out, width=150)) == 0
    doc = json.loads((tmp_path / "policies.json").read_text())
    assert {"start", "end", "window_days", "policies"} <= set(doc)
    assert (doc["start"], doc["end"], doc["window_days"]) == ("2013-02-01", "2013-02-12", 28)
    assert [p["name"] for p in doc["policies"]] == ["static", "weekly"]
    for p in doc["policies"]:
        assert {"name", "mean_auc", "p10_auc", "retrains", "promotions", "cpu_s"} <= set(p)
        assert len(p["daily"]["auc"]) == 11 and p["p10_auc"] <= p["mean_auc"]
    assert [p["retrains"] for p in doc["policies"]] == [1, 3]
    assert "static" in out.getvalue() and "mean AUC" in out.getvalue()
    assert (tmp_path / "policies.png").stat().st_size > 10_000
    md = (tmp_path / "policies.md").read_text()
    assert "| static |" in md and ANALYSIS_MARKER in md
    # the analysis written under the marker survives a re-render
    (tmp_path / "policies.md").write_text(md + "\nhand-written analysis\n")
    args.render_only = True
    assert cli.run(args, Console(file=io.StringIO())) == 0
    assert "hand-written analysis" in (tmp_path / "policies.md").read_text()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown policies"):
        parse_policies("weekly,hourly")
    assert parse_policies("production,static") == ["static", "production"]
