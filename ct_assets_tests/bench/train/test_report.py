"""`ct bench train` writes train.json (strict) and train.md beside the console table, from
the four timings (tiny made-up figures, no measurement)."""

import argparse
import datetime as dt
import io
import json

import pytest
from rich.console import Console

from ct_assets.bench.train import cli, report
from ct_assets.bench.train.run import Timing


def test_train_json_and_markdown(tmp_path):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--window", "7", "--holdout", "2", "--out", str(tmp_path)])
    timings = [Timing("through Dagster (candidate_model + model_evaluation)", 3.0, 800.0),
               Timing("same core calls + MLflow logging, no Dagster", 1.2, 800.0),
               Timing("same core calls only (fit, score, gate)", 1.0, 800.0),
               Timing("month of daily retrains (core, in one process)", 30.0, 900.0,
                      "30 retrains, 9 promotions")]
    doc = report.document(args, dt.date(2013, 3, 1), timings, "ct bench train --window 7")
    out = io.StringIO()
    report.print_result(doc, Console(file=out, width=160))
    paths = report.write_outputs(doc, args.out)
    assert paths == {"json": tmp_path / "train.json", "md": tmp_path / "train.md"}
    saved = json.loads(paths["json"].read_text())
    assert [t["vs_core_calls"] for t in saved["timings"]] == [3.0, 1.2, 1.0, None]
    assert saved["overhead_s"] == pytest.approx(1.8) and saved["overhead_ratio"] == 2.5
    assert (saved["meta"]["day"], saved["meta"]["window"], saved["meta"]["holdout"]) == (
        "2013-03-01", 7, 2)
    md = paths["md"].read_text()
    assert "| through Dagster (candidate_model + model_evaluation) | 3.00 | 3.00x | 800 |  |" in md
    assert "| month of daily retrains (core, in one process) | 30.00 | – | 900 | 30 retrains" in md
    assert "Orchestration overhead (Dagster run minus the same work without it): 1.80 s (2.50x)." \
        in md
    printed = out.getvalue()
    assert "orchestration overhead" in printed and "month of daily retrains" in printed
