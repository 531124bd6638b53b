"""`ct bench policies` writes the JSON contract, the Markdown and the PNG it promises, keeps
the hand-written analysis of policies.md on a re-render, and refuses a bad split."""

import argparse
import io
import json

from rich.console import Console

from ct_assets.bench.policies import cli
from ct_assets.bench.policies.markdown import ANALYSIS_MARKER
from ct_assets.bench.policies.specs import WEEKDAYS

FIGURES = {"mean_auc", "p10_auc", "retrains", "promotions", "cpu_s"}


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_the_command_writes_the_contract(tmp_path):
    args = parse("--start", "2013-02-01", "--split", "2013-02-08", "--end", "2013-02-15",
                 "--n-estimators", "30", "--settings", "2", "--no-reproduce",
                 "--out", str(tmp_path))
    out = io.StringIO()
    assert cli.run(args, Console(file=out, width=200)) == 0
    doc = json.loads((tmp_path / "policies.json").read_text())
    assert doc["periods"] == {"tune": ["2013-02-01", "2013-02-08"],
                              "report": ["2013-02-08", "2013-02-15"]}
    names = [p["name"] for p in doc["policies"]]
    assert {"production", "daily", "static", *(f"weekly-{d}" for d in WEEKDAYS),
            "every-2-days", "every-3-days", "every-4-days", "monthly"} <= set(names)
    for p in doc["policies"]:
        assert FIGURES <= set(p["tune"]) and FIGURES <= set(p["report"])
        assert len(p["daily"]["auc"]) == 14
    by = {p["name"]: p for p in doc["policies"]}
    assert (by["daily"]["tune"]["retrains"], by["daily"]["report"]["retrains"]) == (7, 7)
    assert by["static"]["report"]["retrains"] == 0
    assert "ci90" in by["production"]["report"]["vs"]["daily"]
    assert [h["retrains"] for h in doc["hindsight"]] == [6, 12, 24]
    ceiling = doc["hindsight"][-1]["mean_auc"]
    assert ceiling >= max(p["report"]["mean_auc"] for p in doc["policies"]) - 1e-9
    for which in ("before", "after"):
        assert {"false_reject", "false_accept"} <= set(doc["gate"][which])
    assert doc["tuning"]["policy"]["chosen"] in doc["tuning"]["policy"]["settings"]
    assert "production" in out.getvalue() and "report: mean AUC" in out.getvalue()
    assert (tmp_path / "policies.png").stat().st_size > 10_000
    md = (tmp_path / "policies.md").read_text()
    assert "| production |" in md and "Hindsight ceiling" in md and ANALYSIS_MARKER in md
    # the analysis written under the marker survives a re-render
    (tmp_path / "policies.md").write_text(md + "\nhand-written analysis\n")
    args.render_only = True
    assert cli.run(args, Console(file=io.StringIO())) == 0
    assert "hand-written analysis" in (tmp_path / "policies.md").read_text()


def test_a_split_outside_the_range_is_refused(tmp_path):
    out = io.StringIO()
    args = parse("--split", "2014-02-01", "--out", str(tmp_path))
    assert cli.run(args, Console(file=out)) == 2
    assert "--start < --split < --end" in out.getvalue()
