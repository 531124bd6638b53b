"""What a bench prints and writes: the side-by-side table of the scales, the per-asset table,
`pipeline.json` (one entry per bench label, merged), `pipeline.md` (the fixed method is the
template `method.md` in this package) and `pipeline.png`."""

import contextlib
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ct_assets.bench import reporting
from ct_assets.bench.pipeline.analysis import (
    CATEGORIES,
    CATEGORY_LABELS,
    CPU_CATEGORIES,
    CPU_LABELS,
)
from ct_assets.bench.pipeline.plan import DAY, MULTIPROCESS, ONCE, PROJECT, RANGE
from ct_assets.bench.pipeline.plot import plot


def _fmt_s(s: float) -> str:
    return f"{s:,.1f}" if s < 600 else f"{s:,.0f} ({s / 60:.1f} min)"


def comparison_rows(result: dict) -> list[tuple[str, list[str], str]]:
    """(figure, value per scale, last scale against the first) rows of the side-by-side table:
    a ratio for amounts, a difference in percentage points for shares."""
    scales = [result["scales"][k] for k in sorted(result["scales"], key=int)]
    first, last, many = scales[0], scales[-1], len(scales) > 1

    def row(label, key_fn, fmt, share=False):
        a, b = key_fn(first), key_fn(last)
        if not many:
            versus = ""
        elif share:
            versus = f"{(b - a) * 100:+.1f} pp"
        else:
            versus = f"{b / a:.2f}x" if a else "–"
        return label, [fmt(key_fn(s)) for s in scales], versus

    def rows_of(table):
        return lambda s: s["rows"].get(table, 0)

    days = result["measured_days"]
    rows = [
        row("flights landed (measured days)", lambda s: s["landed_flights"], "{:,}".format),
        row("validated flights", rows_of("validated_flights"), "{:,}".format),
        row("feature rows", rows_of("flight_features"), "{:,}".format),
        row("predictions", rows_of("daily_predictions"), "{:,}".format),
        ("Dagster runs / steps / processes that ran them",
         [f"{s['runs']} / {s['steps']} / {s.get('step_processes', '–')}" for s in scales], ""),
        row("wall time, s", lambda s: s["wall_s"], _fmt_s),
        row("wall time per day, s", lambda s: s["wall_s"] / days, "{:.2f}".format),
        row("flights per second of wall time", lambda s: s["landed_flights"] / s["wall_s"],
            "{:,.0f}".format),
        row("peak RSS of the process tree, MB", lambda s: s["peak_tree_rss_mb"],
            "{:,.0f}".format),
        row("largest single process, MB", lambda s: s["peak_process_rss_mb"], "{:,.0f}".format),
    ]
    for cat in CATEGORIES:
        rows.append(row(f"  {CATEGORY_LABELS[cat]}, s", lambda s, c=cat: s["split_s"][c],
                        _fmt_s))
    rows.append(row("share of wall time outside core/", lambda s: s["share_outside_core"],
                    "{:.1%}".format, share=True))
    rows.append(row("CPU time of the process tree, core-s", lambda s: s["cpu_s"], _fmt_s))
    if all("startup_cpu_s" in s for s in scales):
        rows += [row("  (apart: start-up before the first run, once per daemon), core-s",
                     lambda s: s["startup_cpu_s"], _fmt_s),
                 row("  (apart: the bench's tracer), core-s",
                     lambda s: s["instrumentation_cpu_s"], _fmt_s)]
    for cat in CPU_CATEGORIES:
        rows.append(row(f"  {CPU_LABELS[cat]}, core-s",
                        lambda s, c=cat: s["cpu_split_s"][c], _fmt_s))
    rows += [
        row("share of CPU time outside core/", lambda s: s["cpu_share_outside_core"],
            "{:.1%}".format, share=True),
        ("most steps running at once", [str(s["max_parallel_steps"]) for s in scales], ""),
        row("CPU used by other processes, core-s", lambda s: s["other_cpu_s"],
            "{:,.0f}".format),
    ]
    return rows


def stage_rows(result: dict) -> tuple[list[str], list[list[str]]]:
    """Per asset: steps, time in steps per scale and last/first, CPU time of its step
    processes per scale and last/first, share of the step time inside core/ per scale."""
    scales = sorted(result["scales"], key=int)
    first, last = result["scales"][scales[0]], result["scales"][scales[-1]]
    many = len(scales) > 1
    header = ["asset", "steps", *[f"{k}x s" for k in scales], *(["ratio"] if many else []),
              *[f"{k}x CPU s" for k in scales], *(["CPU ratio"] if many else []),
              *[f"core {k}x" for k in scales]]

    def ratio(name, key):
        a, b = first["stages"][name][key], last["stages"].get(name, {}).get(key, 0.0)
        return [f"{b / a:.2f}x" if a else "–"] if many else []

    out = []
    for name in first["stages"]:
        per = [result["scales"][k]["stages"].get(name) for k in scales]
        out.append([name, str(first["stages"][name]["steps"]),
                    *["–" if st is None else f"{st['step_s']:,.1f}" for st in per],
                    *ratio(name, "step_s"),
                    *["–" if st is None else f"{st['cpu_s']:,.1f}" for st in per],
                    *ratio(name, "cpu_s"),
                    *["–" if not st or not st["step_s"] else f"{st['core_s'] / st['step_s']:.0%}"
                      for st in per]])
    return header, out


def executor_words(result: dict) -> str:
    """How the measured runs executed (entries written before `--executor` were multiprocess)."""
    if result.get("executor", MULTIPROCESS) == PROJECT:
        return ("project runs (each forked from the launcher's warm forkserver, its steps "
                "in-process)")
    return f"multiprocess executor ({result['start_method']})"


def print_result(result: dict, console: Console) -> None:
    scales = sorted(result["scales"], key=int)
    title = (f"ct bench pipeline: {result['first']} .. {result['last']} "
             f"({result['measured_days']} days), {executor_words(result)}, "
             f"{result['machine']['cores']} cores")
    table = Table(title=title)
    table.add_column("figure")
    for key in scales:
        table.add_column(f"{key}x", justify="right")
    if len(scales) > 1:
        table.add_column(f"{scales[-1]}x / {scales[0]}x", justify="right")
    for label, values, ratio in comparison_rows(result):
        table.add_row(label, *values, *([ratio] if len(scales) > 1 else []))
    console.print(table)
    header, rows = stage_rows(result)
    console.print(reporting.console_table(
        "per asset: time in its steps, CPU time of its step processes, and the share of the "
        "step time inside core/", header, rows, left=header[:1]))
    for key in scales:
        failed = result["scales"][key]["failed_runs"]
        if failed:
            console.print(f"[red]{key}x: {len(failed)} run(s) failed:[/red] "
                          + "; ".join(failed[:5]))


def run_plan(groups: list[dict]) -> str:
    """The groups of a bench in words: `a + b` (one run over the range) -> `c` (a run a day)."""
    kind = {RANGE: "one run for the range", DAY: "one run per day", ONCE: "one run"}
    return " → ".join(f"`{' + '.join(g['assets'])}` ({kind[g['mode']]}"
                      + (", days with a window" if g["needs_model"] else "") + ")"
                      for g in groups)


def render_markdown(doc: dict) -> str:
    """The whole report: machine, one section per bench (label), method, notes."""
    m = doc["machine"]
    lines = ["# ct bench pipeline: what orchestration costs, and how it scales", "",
             "Generated by `ct bench pipeline` (`ct_assets/bench/pipeline/`); raw figures in "
             "`pipeline.json`, time per stage in `pipeline.png`.", "",
             f"Machine: {m['cores']} cores ({m['cpu'] or 'unknown CPU'}), {m['ram_gb']} GB RAM, "
             f"Python {m['python']}, dagster {m['dagster']}, {m['platform']}.", ""]
    for result in doc["benches"].values():
        scales = sorted(result["scales"], key=int)
        first = result["scales"][scales[0]]
        lines += [f"## {result['label']}: {result['first']} .. {result['last']} "
                  f"({result['measured_days']} days)", "",
                  f"Measured {result['measured_at']}; {executor_words(result)}; "
                  f"training window {result['train_config'].get('window_days', 28)} days from "
                  f"{result['trained_from']}; warm-up {result['warmup_days']} days.", "",
                  "Runs: " + run_plan(first["groups"]) + ".", ""]
        header = ["figure", *[f"{k}x" for k in scales]]
        if len(scales) > 1:
            header.append(f"{scales[-1]}x / {scales[0]}x")
        lines += reporting.md_table(header, [
            ["… " + label.strip() if label.startswith("  ") else label, *values,
             *([ratio] if len(scales) > 1 else [])]
            for label, values, ratio in comparison_rows(result)])
        header, rows = stage_rows(result)
        lines += ["", "Per asset, summed over the backfill: time in its steps (s), CPU time of "
                  "its step processes including their start-up (core-s), and the share of the "
                  "step time inside core/:", "", *reporting.md_table(header, rows)]
        last = result["scales"][scales[-1]]
        lines += ["", f"Largest traced functions at {scales[-1]}x: " + ", ".join(
            f"`{f['name']}` {f['seconds']:,.1f} s" for f in last["top_functions"][:6]) + ".",
            ""]
        for key in scales:
            s = result["scales"][key]
            share = s["other_cpu_s"] / s["wall_s"] / m["cores"] if s["wall_s"] else 0.0
            lines.append(f"- {key}x: load average {s['load_avg_before'][0]:.2f} before, "
                         f"{s['load_avg_after'][0]:.2f} after; other processes used "
                         f"{s['other_cpu_s']:,.0f} core-s during the {s['wall_s']:,.0f} s "
                         f"({share:.0%} of the machine); warm-up {s['warmup_s']:,.0f} s; "
                         f"{len(s['failed_runs'])} failed run(s)"
                         + (": " + "; ".join(s["failed_runs"][:5]) if s["failed_runs"] else "")
                         + ".")
        if "year" not in doc["benches"] and result["label"] != "year":
            per_day = first["wall_s"] / result["measured_days"]
            lines += ["", f"Full year at {scales[0]}x: not measured. At this bench's "
                      f"{per_day:.1f} s per day it would take about {per_day * 365 / 60:.0f} min "
                      f"(`ct bench pipeline --year --scales {scales[0]}"
                      + (" --executor multiprocess"
                         if result.get("executor", MULTIPROCESS) == MULTIPROCESS else "")
                      + (f" --start-method {result['start_method']}"
                         if result.get("executor", MULTIPROCESS) == MULTIPROCESS
                         and result["start_method"] != "spawn" else "") + "`)."]
        if result.get("note"):
            lines += ["", result["note"]]
        lines.append("")
    lines.append(reporting.template(__package__, "method.md"))
    return "\n".join(lines)


def write_outputs(result: dict, out: Path) -> dict[str, Path]:
    """Merge `result` into `out/pipeline.json` (one entry per label), render .md and .png."""
    doc = {"benches": {}}
    previous = Path(out) / "pipeline.json"
    if previous.exists():
        with contextlib.suppress(ValueError):
            doc = json.loads(previous.read_text())
    doc["machine"] = result["machine"]
    doc.setdefault("benches", {})[result["label"]] = result
    paths = reporting.write_report(out, "pipeline", doc, render_markdown(doc), default=str)
    paths["png"] = plot(doc, Path(out) / "pipeline.png")
    return paths
