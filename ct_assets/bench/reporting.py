"""What every benchmark reports with: strict JSON, the machine it ran on, the Markdown and PNG
files in `docs/benchmarks/`, Markdown templates shipped with a bench, and the progress bar.

Imports nothing heavy at module level (matplotlib, numpy only when called)."""

import argparse
import datetime as dt
import json
import math
import os
import platform
from collections.abc import Iterable
from importlib import metadata, resources
from pathlib import Path
from string import Template

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

DEFAULT_OUT = "docs/benchmarks"


def progress(console: Console) -> Progress:
    """The bar every benchmark shows while it runs (gone once it is done)."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True)


# --------------------------------------------------------------------------------------------
# The machine


def cpu_model() -> str:
    """The CPU's model name (Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    """Cores, CPU model, RAM, OS and Python of this machine. `os` and `platform` are the same
    string under the two names the drift and pipeline reports have always used."""
    import psutil

    system = platform.platform()
    return {"cores": os.cpu_count(), "cpu": cpu_model(),
            "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "os": system, "platform": system, "arch": platform.machine(),
            "python": platform.python_version()}


def machine_line(machine: dict) -> str:
    """`Machine: 2 cores (CPU), 23.5 GB RAM, OS, Python 3.11.7`, for a report (no full stop)."""
    m = machine
    return (f"Machine: {m['cores']} cores ({m['cpu']}), {m['ram_gb']} GB RAM, {m['os']}, "
            f"Python {m['python']}")


def package_versions(names: Iterable[str]) -> dict[str, str]:
    """Installed version of each named distribution."""
    return {name: metadata.version(name) for name in names}


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy since boot (user, nice, system, irq,
    softirq, steal): the difference over a run, less the run's own CPU time, is what other
    processes took from it."""
    import psutil

    t = psutil.cpu_times()
    return sum(getattr(t, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq", "steal"))


# --------------------------------------------------------------------------------------------
# The run


def changed_options(args: argparse.Namespace, defaults: dict) -> list[str]:
    """`--name value` for each option in `defaults` whose value differs: with the options a
    bench always names, the command line that reproduces a run."""
    return [f"--{k.replace('_', '-')} {getattr(args, k)}" for k, d in defaults.items()
            if getattr(args, k) != d]


def finished_at() -> str:
    """Now, in UTC, to the second: when a bench finished."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def local_time() -> str:
    """Now, local time, to the second (`2013-02-01 09:30:00`): when a bench was measured."""
    return dt.datetime.now().replace(microsecond=0).isoformat(sep=" ")


# --------------------------------------------------------------------------------------------
# Strict JSON


def strict(value):
    """`value` made fit for strict JSON: NaN and ±inf become null, NumPy scalars Python
    numbers, tuples lists. Anything else is left for `json` to accept or refuse."""
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return strict(value.item())
    return value


def dumps(value, **kwargs) -> str:
    """`json.dumps` of `strict(value)` with `allow_nan=False`: never NaN in a file."""
    return json.dumps(strict(value), allow_nan=False, **kwargs)


def write_json(path: Path, doc, **kwargs) -> Path:
    """`doc` as strict JSON (indent 1 unless told) with a final newline."""
    kwargs.setdefault("indent", 1)
    return write_text(path, dumps(doc, **kwargs) + "\n")


# --------------------------------------------------------------------------------------------
# Files


def output_paths(out: Path, name: str, exts: Iterable[str] = ("json", "md", "png")
                 ) -> dict[str, Path]:
    """`out/name.ext` for each extension, the folder created."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return {ext: out / f"{name}.{ext}" for ext in exts}


def write_report(out: Path, name: str, doc, markdown: str, **json_kwargs) -> dict[str, Path]:
    """`out/name.json` (strict, `write_json`) and `out/name.md`; their paths by extension."""
    paths = output_paths(out, name, ("json", "md"))
    write_json(paths["json"], doc, **json_kwargs)
    write_text(paths["md"], markdown)
    return paths


def written(paths: dict[str, Path]) -> str:
    """The line that tells where the files went."""
    return "written: " + ", ".join(str(p) for p in paths.values())


def write_text(path: Path, text: str) -> Path:
    """A Markdown (or any text) report, its folder created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: Path, dpi: int) -> Path:
    """Write `fig` as a PNG (folder created) and close it."""
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------------
# Tables and templates


def console_table(title: str, header: list[str], rows: list[list[str]],
                  left: Iterable[str]) -> Table:
    """A console table: the columns named in `left` left-aligned, the others right-aligned."""
    left = set(left)
    table = Table(title=title)
    for col in header:
        table.add_column(col, justify="left" if col in left else "right")
    for row in rows:
        table.add_row(*row)
    return table


def md_table(header: list[str], rows: list[list[str]], right_from: int = 1) -> list[str]:
    """A Markdown table's lines; columns from `right_from` on are right-aligned."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i < right_from else "---:" for i in range(len(header)))
             + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def table_report(title: str, meta: dict, intro: str, header: list[str],
                 rows: list[list[str]], closing: str, raw: str) -> str:
    """A one-table Markdown report: title, the command and when it finished, the machine and
    package versions (`meta` holds command, finished, machine, versions), what runs, the
    table, a closing sentence and where the raw figures are."""
    versions = ", ".join(f"{name} {version}" for name, version in meta["versions"].items())
    return "\n".join([
        f"# {title}", "", f"`{meta['command']}` — {meta['finished'][:16]} UTC.", "",
        f"{machine_line(meta['machine'])}. Versions: {versions}.", "", intro, "",
        *md_table(header, rows), "", closing[:1].upper() + closing[1:] + ".", "",
        f"Raw figures: `{raw}`.", ""])


def template(package: str, name: str, **values) -> str:
    """A Markdown template shipped inside a bench package (package data), its `$name`
    placeholders filled (`string.Template`: a missing value is an error)."""
    text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    return Template(text).substitute(values)
