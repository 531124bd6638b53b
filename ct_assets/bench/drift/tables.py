"""Rows of the tables the console and `drift.md` show: latency per day, share of days flagged,
and what Evidently raised."""

from ct_assets.bench.drift.shifts import shifts_in


def _pct(item: dict | None) -> str:
    if not item:
        return "–"
    text = f"{item['share']:.0%} ({item['flagged']}/{item['n']})" if item.get("n") else ""
    if item.get("errors"):
        text += f"{'; ' if text else ''}raised an error on {item['errors']} day(s)"
    return text or "–"


def _ms(stats: dict) -> str:
    return f"{1000 * stats['median_s']:.0f}" if stats.get("n") else "–"


def latency_rows(summary: dict, window: int) -> list[list[str]]:
    lat = summary["latency"]
    peer = lat["evidently"]
    rows = []
    for key, label in (("ours_check", "ours: daily check (profile today + score)"),
                       ("ours_with_reference", f"ours: + reference from {window} stored "
                                               "profiles (read, merge, calibrate)"),
                       ("ours_reference_only", "… of which the reference"),
                       ("ours_reference_read", f"… … reading the {window} stored profiles"),
                       ("ours_reference_merge", "… … merging them"),
                       ("ours_reference_calibrate", "… … calibrating (feature_drift.calibrate)"),
                       ("evidently", "Evidently: DataDriftPreset report")):
        s = lat[key]
        ratio = "–"
        if peer.get("n") and s.get("n") and not key.startswith("ours_reference"):
            ratio = f"{peer['median_s'] / s['median_s']:.1f}x"
        rows.append([label, str(s.get("n", 0)), _ms(s),
                     f"{1000 * s['mean_s']:.0f}" if s.get("n") else "–",
                     f"{1000 * s['p90_s']:.0f}" if s.get("n") else "–", ratio])
    return rows


def quality_rows(summary: dict) -> list[list[str]]:
    q = summary["quality"]
    rows = []
    for shift in shifts_in(summary):
        ours = q["ours"]["shifts"][shift.key]
        peer = q["evidently"]["shifts"][shift.key]
        peer_any = q["evidently_any"]["shifts"][shift.key]
        rows.append([shift.label, _pct(ours), _pct(peer), _pct(peer_any), ours["top"] or "–"])
    rows.append(["clean days (false alarms)", _pct(q["ours"]["clean"]),
                 _pct(q["evidently"]["clean"]), _pct(q["evidently_any"]["clean"]), ""])
    return rows


def error_lines(summary: dict) -> list[str]:
    """What Evidently raised (it gives no verdict for those days), grouped by message."""
    q = summary["quality"]["evidently"]
    items = [(shift.label, q["shifts"][shift.key]) for shift in shifts_in(summary)]
    items.append(("clean days", q["clean"] or {}))
    groups: dict[str, list[str]] = {}
    for label, item in items:
        if item.get("errors"):
            groups.setdefault(item["error"], []).append(
                f"{label} ({item['errors']} of {item['errors'] + item['n']})")
    return [f"Evidently raised `{message}` on: " + ", ".join(where)
            for message, where in groups.items()]

