"""The shared reporting helper: strict JSON, the machine, templates, Markdown tables."""

import json
import math

import numpy as np
import pytest

from ct_assets.bench import reporting


def test_strict_json_writes_null_for_nan_and_inf_and_plain_numbers_for_numpy(tmp_path):
    doc = {"nan": math.nan, "inf": [1.0, -math.inf], "tuple": (np.float64(0.5), np.int64(3)),
           "flag": np.bool_(True), "nested": {"x": np.float32("nan")}}
    path = reporting.write_json(tmp_path / "out" / "doc.json", doc)
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text and text.endswith("}\n")
    assert json.loads(text) == {"nan": None, "inf": [1.0, None], "tuple": [0.5, 3],
                                "flag": True, "nested": {"x": None}}


def test_dumps_refuses_what_strict_does_not_know():
    with pytest.raises(TypeError):
        reporting.dumps({"x": object()})
    assert reporting.dumps({"x": object()}, default=lambda _: "obj") == '{"x": "obj"}'


def test_machine_info_names_the_cpu_cores_ram_and_python():
    info = reporting.machine_info()
    assert info["cores"] >= 1 and info["ram_gb"] > 0 and info["cpu"] and info["python"]
    assert info["os"] == info["platform"]
    assert reporting.machine_line(info).startswith(f"Machine: {info['cores']} cores (")
    assert reporting.package_versions(["rich"])["rich"]
    assert reporting.machine_busy_s() > 0


def test_templates_ship_with_the_benches_and_are_filled():
    method = reporting.template("ct_assets.bench.pipeline", "method.md")
    assert method.startswith("## Method\n")
    text = reporting.template("ct_assets.bench.drift", "method.md", start="A", end="B",
                              window=7, peer_sample="every day", monitored=23)
    assert "Each day D from A to B (exclusive) is compared with the 7 days" in text
    with pytest.raises(KeyError):
        reporting.template("ct_assets.bench.drift", "method.md", start="A")


def test_md_table_and_output_paths(tmp_path):
    assert reporting.md_table(["a", "b", "c"], [["1", "2", "3"]], right_from=2) == [
        "| a | b | c |", "|---|---|---:|", "| 1 | 2 | 3 |"]
    paths = reporting.output_paths(tmp_path / "new", "x", ("json", "md"))
    assert paths == {"json": tmp_path / "new" / "x.json", "md": tmp_path / "new" / "x.md"}
    assert (tmp_path / "new").is_dir()
