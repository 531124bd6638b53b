"""What a replay prints and writes: the console table and verdict, and `policies.json`,
`policies.md` (its hand-written analysis kept) and `policies.png`."""

from pathlib import Path

from rich.console import Console

from ct_assets.bench import reporting
from ct_assets.bench.policies.markdown import ANALYSIS_MARKER, render_markdown
from ct_assets.bench.policies.plot import plot
from ct_assets.bench.policies.summary import TARGET_DAILY_GAP
from ct_assets.bench.policies.tables import TABLE_HEADER, table_rows


def print_result(doc: dict, console: Console) -> None:
    tune, report = doc["periods"]["tune"], doc["periods"]["report"]
    title = (f"ct bench policies: tuned on {tune[0]} .. {tune[1]}, reported on {report[0]} .. "
             f"{report[1]} (exclusive), window {doc['window_days']} days "
             f"({doc['holdout_days']} held out)")
    console.print(reporting.console_table(title, TABLE_HEADER, table_rows(doc),
                                          left=("policy",)))
    target = doc.get("target")
    if target is not None:
        state = "[green]met[/green]" if target["met"] else "[red]not met[/red]"
        console.print(f"target (report period: production within {TARGET_DAILY_GAP} of daily, "
                      f"no more retrains than the best weekly): {state} — daily − production "
                      f"{target['gap_to_daily']:+.4f}, retrains {target['retrains']} vs "
                      f"{target['best_weekly_retrains']} ({target['best_weekly']})")


def kept_analysis(path: Path) -> str:
    """The hand-written analysis below `ANALYSIS_MARKER` in an existing policies.md."""
    if not path.exists():
        return ""
    text = path.read_text()
    return text.split(ANALYSIS_MARKER, 1)[1] if ANALYSIS_MARKER in text else ""


def write_outputs(doc: dict, out: Path) -> dict[str, Path]:
    """policies.json, policies.md (keeping its analysis section) and policies.png in `out`."""
    analysis = kept_analysis(Path(out) / "policies.md")
    paths = reporting.write_report(out, "policies", doc, render_markdown(doc, analysis))
    paths["png"] = plot(doc, Path(out) / "policies.png")
    return paths
