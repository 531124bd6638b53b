"""From the records of a run to its figures: latency statistics and flagged shares per
detector, our false alarms, and findings worth a sentence."""

from collections import Counter

import numpy as np

from ct_assets.bench.drift.shifts import DETECTORS, SHIFTS, shifts_in


def _stats(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    arr = np.asarray(values, dtype=float)
    return {"n": len(values), "median_s": float(np.median(arr)), "mean_s": float(arr.mean()),
            "p90_s": float(np.quantile(arr, 0.9)), "max_s": float(arr.max())}


def _share(flags: list[bool]) -> dict:
    return {"flagged": int(sum(flags)), "n": len(flags),
            "share": (sum(flags) / len(flags)) if flags else None}


def summarise(records: dict) -> dict:
    """Latency statistics and flagged shares per detector, from the records of `bench`."""
    clean, injected = records["clean"], records["injected"]
    peer_clean = [r for r in clean if "evidently" in r and "error" not in r["evidently"]]
    latency = {
        "ours_check": _stats([r["ours"]["check_s"] for r in clean]),
        "ours_with_reference": _stats([r["ours"]["check_s"] + r["ours"]["reference_s"]
                                       for r in clean]),
        "ours_reference_only": _stats([r["ours"]["reference_s"] for r in clean]),
        **{f"ours_reference_{part}": _stats([r["ours"][f"{part}_s"] for r in clean])
           for part in ("read", "merge", "calibrate")},
        "evidently": _stats([r["evidently"]["seconds"] for r in peer_clean]),
    }
    if latency["evidently"]["n"]:
        peer = latency["evidently"]["median_s"]
        latency["ratio_evidently_over_ours_check"] = peer / latency["ours_check"]["median_s"]
        latency["ratio_evidently_over_ours_with_reference"] = \
            peer / latency["ours_with_reference"]["median_s"]
    quality = {name: {"clean": None, "shifts": {}} for name in DETECTORS}
    quality["ours"]["clean"] = _share([r["ours"]["flagged"] for r in clean])
    clean_errors = [r["evidently"]["error"] for r in clean
                    if "evidently" in r and "error" in r["evidently"]]
    for name, key in (("evidently", "flagged"), ("evidently_any", "any")):
        quality[name]["clean"] = _share([r["evidently"][key] for r in peer_clean]) | {
            "errors": len(clean_errors),
            "error": Counter(clean_errors).most_common(1)[0][0] if clean_errors else None}
    by_day = {r["day"]: r for r in clean}
    for shift in [s for s in SHIFTS if any(r["shift"] == s.key for r in injected)]:
        items = [r for r in injected if r["shift"] == shift.key]
        before = [by_day[r["day"]] for r in items]
        quality["ours"]["shifts"][shift.key] = _share([r["ours"]["flagged"] for r in items]) | {
            "on_shifted_column": sum(r["ours"]["on_shifted_column"] for r in items),
            "column_alarmed_when_clean": sum(bool(set(r["ours"]["alarms"]) & set(shift.columns))
                                             for r in before),
            "top": Counter(r["ours"]["top"] for r in items if r["ours"]["flagged"])
            .most_common(1)[0][0] if any(r["ours"]["flagged"] for r in items) else None}
        peer = [r["evidently"] for r in items if "evidently" in r]
        ok = [p for p in peer if "error" not in p]
        errors = [p["error"] for p in peer if "error" in p]
        peer_before = [r["evidently"] for r in before
                       if "evidently" in r and "error" not in r["evidently"]]
        for name, key in (("evidently", "flagged"), ("evidently_any", "any")):
            quality[name]["shifts"][shift.key] = _share([p[key] for p in ok]) | {
                "errors": len(errors), "error": errors[0] if errors else None,
                "on_shifted_column": sum(p["on_shifted_column"] for p in ok),
                "column_alarmed_when_clean": sum(bool(set(p["drifted"]) & set(shift.columns))
                                                 for p in peer_before),
                "clean_days_checked": len(peer_before)}
    return {"latency": latency, "quality": quality}


# Clean days on which something really happened to the data (checked in the feature rows).
KNOWN_EVENTS = {
    "2013-02-09": "the day after the Feb 8 blizzard: airports closed, half the flights had no "
                  "departure in the 2 h before their cutoff",
    "2013-12-31": "the real weather feed has no observations for this day (see README)",
}


def false_alarms(records: dict) -> list[dict]:
    """Clean days our check flagged, with what set the score and any known event that day."""
    return [{"day": r["day"], "score": round(r["ours"]["score"], 2), "top": r["ours"]["top"],
             "alarms": r["ours"]["alarms"], "event": KNOWN_EVENTS.get(r["day"])}
            for r in records["clean"] if r["ours"]["flagged"]]



def findings(doc: dict) -> list[str]:
    """Observations computed from the records: what each detector missed or always flags."""
    records, lines = doc["records"], []
    for shift in shifts_in(doc["summary"]):
        missed = [r for r in records["injected"]
                  if r["shift"] == shift.key and not r["ours"]["flagged"]]
        if missed:
            lines.append(f"Ours missed `{shift.key}` on {len(missed)} day(s): " + ", ".join(
                f"{r['day']} (score {r['ours']['score']:.2f}, {r['ours']['top']})"
                for r in missed) + ".")
    peer = [r["evidently"] for r in records["clean"]
            if "evidently" in r and "error" not in r["evidently"]]
    if peer:
        every = Counter(col for p in peer for col in p["drifted"])
        always = sorted(col for col, n in every.items() if n == len(peer))
        lines.append(
            f"Evidently, clean days: a median of {np.median([p['count'] for p in peer]):.0f} of "
            f"{len(doc['meta']['monitored'])} columns drifted (share "
            f"{np.median([p['share'] for p in peer]):.2f}); drifted on every one of the "
            f"{len(peer)} days: " + (", ".join(always) or "none") + ". One day is not a sample "
            "of its 28-day window (one weather state, one day's delays), and a fixed distance "
            "threshold of 0.1 does not know that.")
    return lines
