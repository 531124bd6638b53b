"""What a run prints and writes: the console tables, `drift.json` (strict, one line per day
record) and the three files together."""

from pathlib import Path

from rich.console import Console
from rich.table import Table

from ct_assets.bench import reporting
from ct_assets.bench.drift.markdown import render_markdown
from ct_assets.bench.drift.plot import plot
from ct_assets.bench.drift.tables import error_lines, latency_rows, quality_rows


def print_result(doc: dict, console: Console) -> None:
    meta, summary = doc["meta"], doc["summary"]
    table = Table(title=f"ct bench drift: latency per day, {meta['start']} .. {meta['end']} "
                        f"(exclusive), window {meta['window']} days")
    for col in ("what", "days", "median ms", "mean ms", "p90 ms", "Evidently / this"):
        table.add_column(col, justify="left" if col == "what" else "right")
    for row in latency_rows(summary, meta["window"]):
        table.add_row(*row)
    console.print(table)
    table = Table(title="share of days flagged: injected shifts (detection) and clean days "
                        "(false alarms)")
    for col in ("days", "ours", "Evidently dataset drift", "Evidently any column",
                "ours: top feature/signal"):
        table.add_column(col, justify="right" if col.startswith(("ours", "Evid")) and
                         not col.startswith("ours:") else "left")
    for row in quality_rows(summary):
        table.add_row(*row)
    console.print(table)
    for line in error_lines(summary):
        console.print(line)
    alarms = doc["false_alarms_ours"]
    if alarms:
        console.print("clean days our check flagged: " + ", ".join(
            f"{a['day']} ({a['top']}, {a['score']:.2f})" for a in alarms))



def dump_json(doc: dict) -> str:
    """The document as strict JSON: readable head, one line per day record."""
    head = reporting.dumps({k: v for k, v in doc.items() if k != "records"}, indent=1)
    parts = []
    for name, items in doc["records"].items():
        body = ",\n  ".join(reporting.dumps(item, ensure_ascii=False) for item in items)
        parts.append(f' "{name}": [\n  {body}\n ]' if items else f' "{name}": []')
    return head[:-2] + ',\n "records": {\n' + ",\n".join(parts) + "\n }\n}\n"


def write_outputs(doc: dict, out: Path) -> dict[str, Path]:
    paths = reporting.output_paths(out, "drift")
    reporting.write_text(paths["json"], dump_json(doc))
    reporting.write_text(paths["md"], render_markdown(doc))
    plot(doc, paths["png"])
    return paths
