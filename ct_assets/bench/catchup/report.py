"""What `ct bench catchup` prints and writes: the summary table, `catchup.json` (one entry per
bench label, merged; the headline fields at the top level, and `catchup.png`, are those of the
longest catch-up on the project's own code and launcher), `catchup.md`."""

import contextlib
import json
from pathlib import Path

from rich.console import Console

from ct_assets.bench import reporting

HEADLINE = ("days", "wall_s", "cpu_s", "core_cpu_s", "runs", "retrains", "failed_runs")


def _min(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds:,.1f}" if seconds < 120 else f"{seconds:,.0f} ({seconds / 60:.1f} min)"


def rows(result: dict) -> list[list[str]]:
    """(figure, value) rows of one bench."""
    timeline = result["timeline"]
    share = result.get("cpu_share_outside_core")
    kinds = result["runs_by_kind"]
    out = [
        ["days landed at once / featurised", f"{result['days']} / {result['featurised_days']}"],
        ["sensor interval", f"{result['sensor_interval_s']} s" if result["sensor_interval_s"]
         # benches measured before `sensor_defaults` was recorded ran with these
         else result.get("sensor_defaults", "project defaults (15 s landing, 30 s others)")],
        ["verdict", result["verdict"]],
        ["wall time, dagster dev start to caught up, s"
         if result["until"] == "caught-up" else "wall time, dagster dev start to the first "
         "champion, s", _min(result["wall_s"])],
        ["… every day featurised at, s", _min(timeline.get("featurised"))],
        ["… first champion at, s", _min(timeline.get("first_champion"))],
        ["CPU time of the process tree, s", _min(result["cpu_s"])],
        ["… in core/ functions, s", _min(result["core_cpu_s"])],
        ["… in the MLflow store (registry.py), s", _min(result["registry_cpu_s"])],
        ["… by process: " + ", ".join(result.get("cpu_by_process", {})),
         " / ".join(f"{v:,.0f}" for v in result.get("cpu_by_process", {}).values())],
        ["share of CPU outside core/",
         "–" if share is None else f"{share * 100:.1f}%"],
        ["runs (ingest / automation / retrain / rescore / other)",
         f"{result['runs']} (" + " / ".join(str(kinds[k]["runs"]) for k in kinds) + ")"],
        ["retrains (promotions)", f"{result['retrains']} ({result['promotions']})"],
        ["failed runs", str(len(result["failed_runs"]))],
        ["peak RSS of the process tree, MB", f"{result['peak_tree_rss_mb']:,}"],
        ["other processes' CPU on the machine meanwhile, s", _min(result["other_cpu_s"])],
    ]
    floor = result.get("floor")
    if floor:
        out += [["floor: the same work as direct core/ calls, CPU s", _min(floor["cpu_s"])]]
        out += [[f"… {name}", _min(part["cpu_s"])] for name, part in floor["parts"].items()]
        out += [["live loop CPU / floor CPU", f"{result['cpu_s'] / floor['cpu_s']:.1f}x"],
                ["decisions identical to the production replay",
                 "yes" if result["decisions_match"] else "NO"]]
    return out


def print_result(result: dict, console: Console) -> None:
    console.print(reporting.console_table(f"ct bench catchup: {result['label']}",
                                          ["figure", "value"], rows(result), left=["figure"]))
    if result["failed_runs"]:
        console.print("[red]failed runs:[/red] " + "; ".join(result["failed_runs"][:10]))
    if result.get("decisions_match") is False:
        console.print("[red]the live loop and the production replay decided differently[/red]")


def _existing(out: Path) -> dict:
    with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
        return json.loads((out / "catchup.json").read_text())
    return {}


def merged_doc(out: Path, result: dict | None = None, imports: dict | None = None) -> dict:
    """catchup.json with this bench added (or replaced) under its label, or these import
    figures in place of the previous ones."""
    doc = _existing(out)
    benches = doc.get("benches", {})
    if result is not None:
        benches[result["label"]] = result
    imports = imports if imports is not None else doc.get("imports")
    headline = _headline(benches)
    top = ({**{k: headline[k] for k in HEADLINE}, "headline": headline["label"]}
           if headline else {})
    return {**top, "benches": benches, **({"imports": imports} if imports else {})}


def _headline(benches: dict) -> dict | None:
    """The catch-up that speaks for the project: the longest caught up on its own code and
    launcher (the latest of equals); else the latest bench."""
    own = [b for b in benches.values() if b.get("until") == "caught-up" and b.get("caught_up")
           and b.get("launcher", "project") == "project" and not b.get("code")]
    if own:
        return max(own, key=lambda b: (b["days"], b["measured_at"]))
    return list(benches.values())[-1] if benches else None


IMPORT_ROWS = (("wall time of `python -c 'import ct_assets.definitions'`, s", "wall_s"),
               ("… CPU time of that process, s", "cpu_s"),
               ("… import of ct_assets.definitions (-X importtime), s", "import_s"),
               ("peak RSS of that process, MB", "peak_rss_mb"))


def import_rows(imports: dict) -> tuple[list[str], list[list[str]]]:
    names = list(imports)
    rows = [[label, *(f"{imports[n][key]:,}" for n in names)] for label, key in IMPORT_ROWS]
    heavy = sorted({m for n in names for m in imports[n]["heavy_imported"]})
    rows += [[f"… {module} imported, s",
              *(f"{imports[n]['heavy_imported'][module]:.2f}"
                if module in imports[n]["heavy_imported"] else "not imported" for n in names)]
             for module in heavy]
    header = ["figure", *(f"{n} ({imports[n]['commit']})" for n in names)]
    return header, rows


def print_imports(imports: dict, console: Console) -> None:
    header, table = import_rows(imports)
    console.print(reporting.console_table("ct bench catchup --imports", header, table,
                                          left=["figure"]))


def markdown(doc: dict) -> str:
    lines = ["# ct bench catchup: days landed at once, caught up by the live loop", "",
             reporting.template("ct_assets.bench.catchup", "method.md").strip(), ""]
    if doc.get("imports"):
        header, table = import_rows(doc["imports"])
        lines += ["## Loading the definitions", "",
                  "`ct bench catchup --imports` — median of "
                  f"{next(iter(doc['imports'].values()))['repeats']} fresh interpreters, "
                  "`python -X importtime -c 'import ct_assets.definitions'`; every process "
                  "that loads the code location (code server, run and step processes) pays it.",
                  "", *reporting.md_table(header, table), ""]
    for label, result in doc["benches"].items():
        lines += [f"## {label}", "", f"`{result['command']}` — measured "
                  f"{result['measured_at']}.", "",
                  reporting.machine_line(result["machine"]) + f", dagster "
                  f"{result['machine']['dagster']}. Load average before/after: "
                  f"{result['load_avg_before'][0]} / {result['load_avg_after'][0]}.", ""]
        if result.get("note"):
            lines += [result["note"], ""]
        lines += [*reporting.md_table(["figure", "value"], rows(result)), ""]
        if result["failed_runs"]:
            lines += ["Failed runs: " + "; ".join(result["failed_runs"][:20]), ""]
    lines += ["Raw figures: `catchup.json`.", ""]
    return "\n".join(lines)


def write_imports(imports: dict, out: Path) -> dict[str, Path]:
    doc = merged_doc(out, imports=imports)
    return reporting.write_report(out, "catchup", doc, markdown(doc))


def write_outputs(result: dict, out: Path) -> dict[str, Path]:
    from ct_assets.bench.catchup.plot import plot

    doc = merged_doc(out, result)
    paths = reporting.write_report(out, "catchup", doc, markdown(doc))
    paths["png"] = plot(doc["benches"][doc["headline"]], out / "catchup.png")
    return paths
