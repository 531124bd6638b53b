"""`ct --help` and `ct bench --help` import no benchmark (nor pandas, Dagster, MLflow, ...); a
bench's own `--help` imports only its light `cli` module and still shows its options."""

import importlib
import json
import subprocess
import sys

import pytest

from ct_assets.bench import BENCHMARKS

HEAVY = {"pandas", "numpy", "pyarrow", "duckdb", "dagster", "mlflow", "lightgbm", "whylogs",
         "matplotlib", "evidently", "scipy", "sklearn"}
SHARED = {"ct_assets.bench", "ct_assets.bench.reporting"}
# `ct bench pipeline` carries the scale-out flags, declared by the light package of bench.cluster
ALSO = {"pipeline": {"ct_assets.bench.cluster"}}


def _run(code: str) -> tuple[str, set[str]]:
    """Run `code` in a fresh interpreter: what it printed, and the modules it imported."""
    script = (f"import json, sys\n{code}\n"
              "print('\\nMODULES ' + json.dumps(sorted(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    printed, _, modules = result.stdout.rpartition("\nMODULES ")
    return printed, set(json.loads(modules))


def _heavy(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules} & HEAVY


def test_building_the_parser_imports_no_benchmark_and_nothing_heavy():
    _, modules = _run("from ct_assets.cli import build_parser\nbuild_parser()")
    assert not [m for m in modules if m.startswith("ct_assets.bench.") and m not in SHARED]
    assert not _heavy(modules)


def test_ct_bench_help_lists_every_benchmark_without_importing_one():
    printed, modules = _run("from ct_assets.cli import main\n"
                            "try:\n    main(['bench', '--help'])\nexcept SystemExit:\n    pass")
    for name in BENCHMARKS:
        assert name in printed
    assert not [m for m in modules if m.startswith("ct_assets.bench.") and m not in SHARED]
    assert not _heavy(modules)


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_a_bench_help_shows_its_options_and_imports_only_its_cli(name):
    printed, modules = _run("from ct_assets.cli import main\n"
                            f"try:\n    main(['bench', {name!r}, '--help'])\n"
                            "except SystemExit:\n    pass")
    assert "--out" in printed and BENCHMARKS[name][0] in " ".join(printed.split())
    assert BENCHMARKS[name][1] in modules
    package = BENCHMARKS[name][1].rsplit(".", 1)[0]
    assert not [m for m in modules if m.startswith("ct_assets.bench.")
                and m not in SHARED | ALSO.get(name, set()) and not m.startswith(package)]
    assert not _heavy(modules), name


def test_the_policies_help_still_lists_its_policies_and_variants():
    printed, _ = _run("from ct_assets.cli import main\n"
                      "try:\n    main(['bench', 'policies', '--help'])\nexcept SystemExit:\n"
                      "    pass")
    assert "--variants" in printed and "--render-only" in printed
    assert "production-no-feedback" in printed and "static,monthly,weekly" in printed


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_every_registered_module_has_the_command_interface(name):
    module = importlib.import_module(BENCHMARKS[name][1])
    assert callable(module.add_arguments) and callable(module.run)


def test_a_bench_parses_its_own_arguments_through_ct():
    from ct_assets.cli import build_parser

    args = build_parser().parse_args(["bench", "drift", "--window", "7", "--no-evidently"])
    assert (args.bench, args.window, args.no_evidently, args.out) == (
        "drift", 7, True, "docs/benchmarks")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "features", "--window", "7"])
