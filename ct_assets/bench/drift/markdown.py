"""`drift.md`: how the bench ran, its tables and findings. The fixed prose of the method is
the template `method.md` in this package."""

from ct_assets.bench import reporting
from ct_assets.bench.drift.analysis import findings
from ct_assets.bench.drift.shifts import shifts_in
from ct_assets.bench.drift.tables import error_lines, latency_rows, quality_rows


def _nth(n: int) -> str:
    if n == 1:
        return "every"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"every {n}{suffix}"


def render_markdown(doc: dict) -> str:
    meta, summary, m = doc["meta"], doc["summary"], doc["meta"]["machine"]
    lat = summary["latency"]
    v = meta["versions"]
    peer_sample = f"{_nth(meta['evidently_every'] or 1)} day"
    lines = [
        "# ct bench drift: our feature drift check vs Evidently",
        "",
        f"`{meta['command']}` — {meta['finished'][:16]} UTC, {meta['wall_s'] / 60:.1f} min.",
        "",
        f"{reporting.machine_line(m)}. Load average {meta['load_before'][0]:.2f} at the start, "
        f"{meta['load_after'][0]:.2f} at the end"
        + (f"; other processes used {meta['other_cpu_share']:.0%} of the machine's CPU during "
           "the run" if meta.get("other_cpu_share") is not None else "") + ".",
    ]
    if meta.get("note"):
        lines += ["", f"Note: {meta['note']}"]
    lines += [
        "",
        f"Versions: whylogs {v['whylogs']}, Evidently {v.get('evidently', 'not installed')}, "
        f"pandas {v['pandas']}, numpy {v['numpy']}, scipy {v['scipy']}.",
        "",
        *reporting.template(__package__, "method.md", start=meta["start"], end=meta["end"],
                            window=meta["window"], peer_sample=peer_sample,
                            monitored=len(meta["monitored"])).splitlines(),
        "",
        "| what | days | median ms | mean ms | p90 ms | Evidently / this (medians) |",
        "|---|---:|---:|---:|---:|---:|",
        *("| " + " | ".join(row) + " |" for row in latency_rows(summary, meta["window"])),
        "",
    ]
    if lat["evidently"].get("n"):
        lines += [
            f"Evidently's report takes **{lat['ratio_evidently_over_ours_check']:.0f}x** the "
            "time of our daily check and "
            f"**{lat['ratio_evidently_over_ours_with_reference']:.1f}x** the time of our check "
            "with its reference rebuilt from scratch (medians). Evidently rereads the "
            f"{meta['window']} days of rows every day; ours reads one day of rows and a "
            "reference kept as a profile.",
            "",
        ]
    q = summary["quality"]
    lines += [
        "## Quality",
        "",
        f"Shifts injected into copies of the feature rows of {_nth(meta['inject_every'])} "
        f"day ({len({r['day'] for r in doc['records']['injected']})} days), judged "
        "against the untouched window. Clean days: "
        f"{q['ours']['clean']['n']} for ours, {q['evidently']['clean']['n']} for Evidently.",
        "",
        "| days flagged | ours | Evidently dataset drift | Evidently any column | ours: top "
        "feature/signal |",
        "|---|---:|---:|---:|---|",
        *("| " + " | ".join(row) + " |" for row in quality_rows(summary)),
        "",
        *(f"- {line}" for line in error_lines(summary)),
        *([""] if error_lines(summary) else []),
        "Did the alarm name the shifted column? On the injected copy, and on the same day "
        "before the injection (an alarm that was already there says nothing about the shift):",
        "",
        "| shift | ours: injected | ours: same day, clean | Evidently: injected | "
        "Evidently: same day, clean |",
        "|---|---:|---:|---:|---:|",
    ]
    for shift in shifts_in(summary):
        ours = q["ours"]["shifts"][shift.key]
        peer = q["evidently_any"]["shifts"][shift.key]
        injected = f"{peer['on_shifted_column']}/{peer['n']}" if peer["n"] else "–"
        if peer.get("errors"):
            injected += f" ({peer['errors']} raised)"
        clean = (f"{peer['column_alarmed_when_clean']}/{peer['clean_days_checked']}"
                 if peer.get("clean_days_checked") else "–")
        lines.append(f"| {shift.label} | {ours['on_shifted_column']}/{ours['n']} | "
                     f"{ours['column_alarmed_when_clean']}/{ours['n']} | {injected} | {clean} |")
    alarms = doc["false_alarms_ours"]
    lines += ["", f"Clean days our check flagged: {len(alarms) or 'none'}"
              + (f", {sum(bool(a.get('event')) for a in alarms)} of them on a day with a known "
                 "event in the data." if alarms else ".")]
    if alarms:
        lines += ["", "| day | score | feature/signal | known event |", "|---|---:|---|---|"]
        lines += [f"| {a['day']} | {a['score']:.2f} | {a['top']} | {a.get('event') or ''} |"
                  for a in alarms]
    notes = findings(doc)
    if notes:
        lines += ["", "## Findings", "", *(f"- {line}" for line in notes)]
    lines += ["", "![drift bench](drift.png)", "",
              "Raw figures, every day and every injected copy: `drift.json`.", ""]
    return "\n".join(lines)
