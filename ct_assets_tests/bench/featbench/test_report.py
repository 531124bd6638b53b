"""`ct bench features` writes features.json (strict) and features.md beside the console table,
from the two measurements and the cross-check (tiny made-up figures, no measurement)."""

import argparse
import io
import json

from rich.console import Console

from ct_assets.bench.featbench import cli, report
from ct_assets.bench.features import Measure


def _args(tmp_path, **changes) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--out", str(tmp_path)])
    for key, value in changes.items():
        setattr(args, key, value)
    return args


def _doc(args, worst):
    import datetime as dt

    results = [Measure("duckdb", 1.0, 1000, 900.0, 400.0),
               Measure("pandas", 1.5, 1000, 1000.0, 300.0)]
    return report.document(args, dt.date(2013, 1, 1), dt.date(2013, 1, 8), results, worst,
                           "ct bench features --start 2013-01-01 --end 2013-01-08")


def test_features_json_and_markdown(tmp_path):
    args = _args(tmp_path, check_days=7)
    doc = _doc(args, 0.0)
    out = io.StringIO()
    report.print_result(doc, Console(file=out, width=160))
    paths = report.write_outputs(doc, tmp_path)
    assert set(paths) == {"json", "md"} and paths["json"] == tmp_path / "features.json"
    saved = json.loads(paths["json"].read_text())
    duckdb, pandas = saved["results"]
    assert duckdb["label"] == "core.features (DuckDB ASOF)" and duckdb["rows_per_s"] == 1000
    assert pandas["time_ratio"] == 1.5 and pandas["rss_over_data_mb"] == 700
    assert saved["cross_check"] == {"days": 7, "max_abs_difference": 0.0, "identical": True}
    assert saved["meta"]["machine"]["cores"] >= 1 and saved["meta"]["versions"]["duckdb"]
    md = paths["md"].read_text()
    assert "| pandas merge_asof | 1,000 | 1.500 | 667 | 1,000 | 700 | 1.50x | 1.11x |" in md
    assert "Cross-check on the first 7 days: identical." in md
    assert "pandas merge_asof" in out.getvalue() and "identical" in out.getvalue()


def test_a_disagreement_is_null_in_the_json_and_spelled_out_in_the_markdown(tmp_path):
    doc = _doc(_args(tmp_path), float("inf"))
    paths = report.write_outputs(doc, tmp_path)
    assert json.loads(paths["json"].read_text())["cross_check"]["max_abs_difference"] is None
    assert "max abs difference inf" in paths["md"].read_text()
