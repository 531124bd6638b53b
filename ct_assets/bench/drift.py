"""`ct bench drift`: cost and quality of our feature drift check against Evidently.

Every day D of the range is checked twice, on the same rows:
- ours, as the `feature_drift` asset does it: the daily whylogs profiles of the reference window
  (the `--window` days before D) are read from a profile store, merged and calibrated
  (`core.feature_drift.calibrate`, once per model in production); D's feature rows are profiled
  and scored (`feature_drift.score`); D is flagged when `summary_score` >= 1;
- Evidently's `DataDriftPreset` on the monitored feature columns (`feature_drift.MONITORED`),
  current = D's rows, reference = the rows of the same window; D is flagged when Evidently's
  dataset-drift verdict is true (share of drifted columns >= 0.5), and, as a second reading of
  the same report, when any column drifted.

Latency is measured per day: ours as the daily check alone (profile today + score) and with the
reference built from the stored profiles (read + merge + calibrate + the check); Evidently as
the report alone (datasets from the frames + `Report.run`), with the rows already in memory.

Quality: known shifts are injected into copies of the feature rows of every `--inject-every`-th
day (`SHIFTS`), and both detectors judge them against the untouched window; the clean days
give each detector's false-alarm share. Results go to `drift.json`, `drift.md`, `drift.png`.
"""

import argparse
import datetime as dt
import json
import os
import platform
import resource
import tempfile
import textwrap
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ct_assets.core import feature_drift
from ct_assets.core.days import day_range, parse_day
from ct_assets.core.features import CATEGORICAL, FEATURE_NAMES

HELP = "drift check per day: ours (merged whylogs profiles) vs Evidently DataDriftPreset"

PROFILE_NAME = "flight_features"
NEW_CARRIER = "ZZ"
NEW_CARRIER_SHARE = 0.10
WEATHER = [name for name in FEATURE_NAMES if name.startswith("wx_")]
INSTALL_HINT = ".venv/bin/pip install --constraint requirements.lock --editable '.[dev,bench]'"


@dataclass(frozen=True)
class Shift:
    """A known corruption of one day's feature rows."""
    key: str
    label: str
    short: str                         # for the plot's axis
    columns: tuple[str, ...]           # the feature columns it changes
    apply: Callable[[pd.DataFrame, np.random.Generator], None]   # in place, on a copy


def _celsius(frame, _rng):
    frame["wx_temp"] = (frame["wx_temp"] - 32.0) * 5.0 / 9.0


def _inhg(frame, _rng):
    frame["wx_pressure"] = frame["wx_pressure"] * 0.02953


def _weather_nulls(frame, _rng):
    frame[WEATHER] = np.nan


def _new_carrier(frame, rng):
    rows = rng.choice(len(frame), size=max(1, round(NEW_CARRIER_SHARE * len(frame))),
                      replace=False)
    frame.iloc[rows, frame.columns.get_loc("carrier")] = NEW_CARRIER


def _hour_plus_3(frame, _rng):
    frame["sched_hour"] = (frame["sched_hour"] + 3).clip(upper=23)


def _distance_x2(frame, _rng):
    frame["distance"] = frame["distance"] * 2.0


SHIFTS: tuple[Shift, ...] = (
    Shift("temp_celsius", "wx_temp in °C instead of °F", "wx_temp\n°F → °C", ("wx_temp",),
          _celsius),
    Shift("pressure_inhg", "wx_pressure in inHg instead of mbar", "wx_pressure\nmbar → inHg",
          ("wx_pressure",), _inhg),
    Shift("weather_nulls", "weather feed gone: every wx_* null", "weather feed\nall null",
          tuple(WEATHER), _weather_nulls),
    Shift("new_carrier", f"new carrier code on {NEW_CARRIER_SHARE:.0%} of rows",
          f"new carrier\n{NEW_CARRIER_SHARE:.0%} of rows", ("carrier",), _new_carrier),
    Shift("hour_plus_3", "sched_hour +3 h (clipped at 23)", "sched_hour\n+3 h",
          ("sched_hour",), _hour_plus_3),
    Shift("distance_x2", "distance x2", "distance\nx2", ("distance",), _distance_x2),
)
DETECTORS = {
    "ours": "ours: whylogs profiles, calibrated (summary score >= 1)",
    "evidently": "Evidently DataDriftPreset: dataset drift (>= 50% of columns)",
    "evidently_any": "Evidently DataDriftPreset: any column drifted",
}


def shifts_in(summary: dict) -> list[Shift]:
    """The shifts a run injected, in `SHIFTS` order."""
    return [s for s in SHIFTS if s.key in summary["quality"]["ours"]["shifts"]]


def inject(rows: pd.DataFrame, shift: Shift, seed: int) -> pd.DataFrame:
    """A copy of `rows` with `shift` applied (the random part seeded)."""
    frame = rows.copy()
    shift.apply(frame, np.random.default_rng(seed))
    return frame


# --------------------------------------------------------------------------------------------
# Data and the two detectors


def feature_days(start: dt.date, end: dt.date) -> dict[dt.date, pd.DataFrame]:
    """The feature rows of each day of [start, end), computed from the whole year of flights
    (so the first days have their full 28-day history) in DuckDB, as the offline store does."""
    from ct_assets.bench.features import duckdb_features, warehouse_in_memory, year_frames

    conn = warehouse_in_memory(*year_frames())
    frame = duckdb_features(conn, start, end).to_pandas()
    conn.close()
    frame["ds"] = pd.to_datetime(frame["ds"]).dt.date
    return {day: rows.reset_index(drop=True) for day, rows in frame.groupby("ds", sort=True)}


class Ours:
    """Our check over a profile store of daily feature profiles (a folder, as in production)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def store(self, day: dt.date, rows: pd.DataFrame) -> None:
        from ct_assets.core import profiles

        profiles.write_profile(self.root, PROFILE_NAME, day,
                               profiles.profile_frame(rows, FEATURE_NAMES))

    def reference(self, days: list[dt.date]):
        """(merged view, calibration, seconds of each part): read the stored profiles of `days`,
        merge them, calibrate."""
        from ct_assets.core import profiles

        t0 = time.perf_counter()
        views = [v for v in (profiles.read_profile(self.root, PROFILE_NAME, d) for d in days)
                 if v is not None]
        t1 = time.perf_counter()
        merged = views[0]
        for view in views[1:]:
            merged = merged.merge(view)
        t2 = time.perf_counter()
        calibration = feature_drift.calibrate(merged, views)
        t3 = time.perf_counter()
        return merged, calibration, {"read_s": t1 - t0, "merge_s": t2 - t1,
                                     "calibrate_s": t3 - t2}

    @staticmethod
    def check(rows: pd.DataFrame, reference, calibration) -> tuple[dict, float]:
        """Profile today's rows and score them: (result, seconds)."""
        from ct_assets.core import profiles

        began = time.perf_counter()
        view = profiles.profile_frame(rows, FEATURE_NAMES)
        scores = feature_drift.score(reference, view, calibration)
        summary = feature_drift.summary_score(scores)
        seconds = time.perf_counter() - began
        top = scores.iloc[0] if len(scores) else None
        return {
            "score": summary,
            "flagged": summary >= 1.0,
            "top": None if top is None else f"{top['column']}/{top['signal']}",
            "alarms": sorted(scores.loc[scores["severity"] >= 1.0, "column"]),
        }, seconds


class Evidently:
    """Evidently's `DataDriftPreset` with its defaults, on the monitored feature columns."""

    def __init__(self):
        # Only Evidently's UI service sends telemetry; say no anyway, nothing leaves the machine.
        os.environ.setdefault("DO_NOT_TRACK", "1")
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset

        self.columns = list(feature_drift.MONITORED)
        self._dataset, self._report, self._preset = Dataset, Report, DataDriftPreset
        self._definition = DataDefinition(
            numerical_columns=[c for c in self.columns if c not in CATEGORICAL],
            categorical_columns=[c for c in self.columns if c in CATEGORICAL])
        self.version = metadata.version("evidently")

    def check(self, rows: pd.DataFrame, reference: pd.DataFrame) -> tuple[dict, float]:
        """One report (current = `rows`, reference = `reference`): (result, seconds)."""
        began = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                snapshot = self._report([self._preset(columns=self.columns)]).run(
                    self._dataset.from_pandas(rows[self.columns],
                                              data_definition=self._definition),
                    self._dataset.from_pandas(reference[self.columns],
                                              data_definition=self._definition))
        except Exception as exc:   # Evidently refuses some inputs (an all-null column) outright
            seconds = time.perf_counter() - began
            message = str(exc).splitlines()[0] if str(exc) else ""
            return {"error": f"{type(exc).__name__}: {message}"}, seconds
        seconds = time.perf_counter() - began
        metrics = snapshot.dict()["metrics"]
        counts = next(m["value"] for m in metrics
                      if m["config"]["type"].endswith("DriftedColumnsCount"))
        drifted = sorted(m["config"]["column"] for m in metrics
                         if m["config"]["type"].endswith("ValueDrift")
                         and m["value"] is not None and m["value"] >= m["config"]["threshold"])
        return {
            "share": float(counts["share"]),
            "count": int(counts["count"]),
            "flagged": float(counts["share"]) >= 0.5,
            "any": int(counts["count"]) >= 1,
            "drifted": drifted,
        }, seconds


# --------------------------------------------------------------------------------------------
# The bench


def _machine_busy_s() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (Linux), None elsewhere."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    ticks = [int(x) for x in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cores": os.cpu_count(), "cpu": cpu, "ram_gb": round(ram, 1),
            "os": platform.platform(), "python": platform.python_version()}


def _versions(with_evidently: bool) -> dict:
    names = ["whylogs", "pandas", "numpy", "scipy"] + (["evidently"] if with_evidently else [])
    return {name: metadata.version(name) for name in names}


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True)


def bench(start: dt.date, end: dt.date, window: int, inject_every: int, evidently_every: int,
          seed: int, with_evidently: bool, console: Console,
          shifts: tuple[Shift, ...] = SHIFTS) -> dict:
    """Run both detectors over [start, end): every record, unaggregated."""
    days = list(day_range(start, end))
    first = start - dt.timedelta(days=window)
    inject_days = set(days[::inject_every]) if inject_every > 0 else set()
    evidently_days = set(days[::evidently_every]) if with_evidently and evidently_every > 0 \
        else set()
    clean, injected = [], []
    with _progress(console) as bar, tempfile.TemporaryDirectory(prefix="ct-bench-drift-") as tmp:
        task = bar.add_task("features of the window and the days (DuckDB)", total=None)
        rows = feature_days(first, end)
        ours = Ours(Path(tmp))
        bar.update(task, description="daily whylogs profiles into a profile store",
                   total=len(rows), completed=0)
        for day, frame in rows.items():
            ours.store(day, frame)
            bar.advance(task)
        peer = None
        if with_evidently:
            bar.update(task, description="importing Evidently, one warm-up report")
            peer = Evidently()
            warm = next(d for d in days if d in rows)
            peer.check(rows[warm], pd.concat([rows[d] for d in day_range(first, warm)
                                              if d in rows]))
        bar.update(task, description="checking each day", total=len(days), completed=0)
        for day in days:
            bar.update(task, description=f"checking {day}")
            window_days = [d for d in day_range(day - dt.timedelta(days=window), day)
                           if d in rows]
            if day not in rows or len(window_days) < 3:
                bar.advance(task)
                continue
            reference, calibration, parts = ours.reference(window_days)
            result, check_s = ours.check(rows[day], reference, calibration)
            record = {"day": day.isoformat(), "rows": len(rows[day]),
                      "reference_days": len(window_days),
                      "ours": result | {"check_s": check_s,
                                        "reference_s": sum(parts.values())} | parts}
            needs_peer = day in evidently_days or day in inject_days
            ref_rows = pd.concat([rows[d] for d in window_days]) if needs_peer and peer \
                else None
            if ref_rows is not None:
                record["reference_rows"] = len(ref_rows)
            if day in evidently_days:
                result, seconds = peer.check(rows[day], ref_rows)
                record["evidently"] = result | {"seconds": seconds}
            clean.append(record)
            if day in inject_days:
                for i, shift in enumerate(shifts):
                    copy = inject(rows[day], shift, seed + 1000 * day.toordinal() + i)
                    result, check_s = ours.check(copy, reference, calibration)
                    item = {"day": day.isoformat(), "shift": shift.key,
                            "ours": result | {"check_s": check_s,
                                              "on_shifted_column": bool(
                                                  set(result["alarms"]) & set(shift.columns))}}
                    if peer is not None:
                        result, seconds = peer.check(copy, ref_rows)
                        if "error" not in result:
                            result["on_shifted_column"] = bool(
                                set(result["drifted"]) & set(shift.columns))
                        item["evidently"] = result | {"seconds": seconds}
                    injected.append(item)
            bar.advance(task)
    return {"clean": clean, "injected": injected}


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


# --------------------------------------------------------------------------------------------
# Output


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
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['ram_gb']} GB RAM, {m['os']}, Python "
        f"{m['python']}. Load average {meta['load_before'][0]:.2f} at the start, "
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
        "## What runs",
        "",
        f"Each day D from {meta['start']} to {meta['end']} (exclusive) is compared with the "
        f"{meta['window']} days before it, on the feature table (`core/features.py`, computed "
        "for the year in DuckDB):",
        "",
        "- **ours** (`core/feature_drift.py`, what the `feature_drift` asset does): the daily "
        "whylogs profiles of the window are read from a profile store, merged and calibrated "
        "(`calibrate`, once per model in production); D's rows are profiled and scored; D is "
        "flagged when `summary_score` >= 1.",
        "- **Evidently** `Report([DataDriftPreset(columns=MONITORED)])` with its defaults "
        f"(reference rows > 1000, so Wasserstein distance for numeric and Jensen-Shannon for "
        "categorical columns, threshold 0.1): current = D's rows, reference = the window's "
        "rows. Flagged = its dataset-drift verdict (share of drifted columns >= 0.5); "
        "\"any column\" reads the same report. "
        f"Run on {peer_sample} for the clean share and on every injected copy.",
        "",
        f"Both see the {len(meta['monitored'])} monitored feature columns "
        "(`feature_drift.MONITORED`: the calendar features are left out by both).",
        "",
        "## Latency per day",
        "",
        "Wall time per day with the rows already in memory. Ours: the daily check, then the "
        "same with the reference built from the stored daily profiles. Evidently: building its "
        "two datasets and `Report.run`, after one untimed warm-up report.",
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


def plot(doc: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates
    import matplotlib.pyplot as plt

    q = doc["summary"]["quality"]
    used = shifts_in(doc["summary"])
    groups = [s.key for s in used] + ["clean"]
    labels = [s.short for s in used] + ["clean days\n(false alarms)"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(15, 5.5),
                                      gridspec_kw={"width_ratios": [1.6, 1]})
    width = 0.27
    colors = {"ours": "#1f77b4", "evidently": "#ff7f0e", "evidently_any": "#ffbb78"}
    x = np.arange(len(groups))
    for i, name in enumerate(DETECTORS):
        heights, raised = [], []
        for g in groups:
            item = q[name]["clean"] if g == "clean" else q[name]["shifts"][g]
            share = item.get("share") if item else None
            heights.append(0.0 if share is None else share)
            raised.append(item.get("errors", 0) if item else 0)
        bars = left.bar(x + (i - 1) * width, heights, width, label=DETECTORS[name],
                        color=colors[name])
        for bar, height, err in zip(bars, heights, raised, strict=True):
            middle = bar.get_x() + bar.get_width() / 2
            if err and height == 0:
                left.text(middle, 0.02, "raised an error", ha="center", va="bottom",
                          fontsize=7, rotation=90)
            else:
                left.text(middle, height + 0.01, f"{height:.0%}", ha="center", va="bottom",
                          fontsize=6)
    left.set_xticks(x, labels, fontsize=8)
    left.set_ylim(0, 1.1)
    left.set_ylabel("share of days flagged")
    peer = q["evidently"]
    raised = [(s.short.replace("\n", " "), peer["shifts"][s.key]) for s in used]
    raised.append(("clean days", peer["clean"] or {}))
    raised = [f"{label} {item['errors']}/{item['errors'] + item['n']}" for label, item in raised
              if item.get("errors")]
    note = ("Evidently raised an error (an all-null column) on: " + ", ".join(raised)
            + "; its shares are of the days it gave a verdict on.") if raised else ""
    left.set_title("detection rate per injected shift, false alarms on clean days")
    left.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=1)
    clean = doc["records"]["clean"]
    days = [dt.date.fromisoformat(r["day"]) for r in clean]
    right.plot(days, [1000 * r["ours"]["check_s"] for r in clean], ".", ms=3,
               label="ours: daily check", color=colors["ours"])
    right.plot(days, [1000 * (r["ours"]["check_s"] + r["ours"]["reference_s"]) for r in clean],
               "x", ms=3, color="#2ca02c",
               label=f"ours: + reference (read {doc['meta']['window']}, merge, calibrate)")
    peer = [r for r in clean if "evidently" in r and "error" not in r["evidently"]]
    if peer:
        right.plot([dt.date.fromisoformat(r["day"]) for r in peer],
                   [1000 * r["evidently"]["seconds"] for r in peer], ".", ms=3,
                   label="Evidently DataDriftPreset", color=colors["evidently"])
    right.set_yscale("log")
    right.set_ylabel("ms per day (log)")
    right.set_title("per-day latency")
    right.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1)
    locator = matplotlib.dates.AutoDateLocator()
    right.xaxis.set_major_locator(locator)
    right.xaxis.set_major_formatter(matplotlib.dates.ConciseDateFormatter(locator))
    right.tick_params(axis="x", labelsize=8)
    fig.tight_layout(rect=(0, 0.07 if note else 0, 1, 1))
    if note:
        fig.text(0.01, 0.01, textwrap.fill(note, 190), fontsize=7, va="bottom")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _clean_json(value):
    """NaN / inf become null: the file is strict JSON."""
    if isinstance(value, dict):
        return {k: _clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_json(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _clean_json(value.item())
    return value


def dump_json(doc: dict) -> str:
    """The document as strict JSON: readable head, one line per day record."""
    head = json.dumps(_clean_json({k: v for k, v in doc.items() if k != "records"}), indent=1)
    parts = []
    for name, items in doc["records"].items():
        body = ",\n  ".join(json.dumps(_clean_json(item), ensure_ascii=False)
                            for item in items)
        parts.append(f' "{name}": [\n  {body}\n ]' if items else f' "{name}": []')
    return head[:-2] + ',\n "records": {\n' + ",\n".join(parts) + "\n }\n}\n"


def write_outputs(doc: dict, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "drift.json", "md": out / "drift.md", "png": out / "drift.png"}
    paths["json"].write_text(dump_json(doc))
    paths["md"].write_text(render_markdown(doc))
    plot(doc, paths["png"])
    return paths


# --------------------------------------------------------------------------------------------
# The command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", default="2013-02-01", metavar="YYYY-MM-DD",
                        help="first checked day (default 2013-02-01: January is its reference)")
    parser.add_argument("--end", default="2014-01-01", metavar="YYYY-MM-DD",
                        help="day after the last checked day (default 2014-01-01)")
    parser.add_argument("--window", type=int, default=28,
                        help="reference window: the days before each checked day (default 28)")
    parser.add_argument("--inject-every", type=int, default=7, metavar="DAYS",
                        help="inject the shifts into every DAYS-th day (default 7; 0: none)")
    parser.add_argument("--evidently-every", type=int, default=1, metavar="DAYS",
                        help="Evidently on every DAYS-th clean day (default 1: all; raise it "
                             "if too slow); injected days always run both")
    parser.add_argument("--shifts", default=",".join(s.key for s in SHIFTS),
                        help="comma-separated shifts to inject (default all: "
                             + ", ".join(s.key for s in SHIFTS) + ")")
    parser.add_argument("--no-evidently", action="store_true",
                        help="ours only (Evidently is the optional `bench` extra)")
    parser.add_argument("--seed", type=int, default=2013, help="seed of the random injections")
    parser.add_argument("--out", default="docs/benchmarks",
                        help="folder of drift.md, drift.png, drift.json (default docs/benchmarks)")
    parser.add_argument("--note", help="a sentence about the conditions, kept in drift.md")
    parser.add_argument("--render-only", action="store_true",
                        help="only rewrite drift.md and drift.png from OUT/drift.json")


def run(args: argparse.Namespace, console: Console) -> int:
    """`ct bench drift`: run, print the tables, write drift.json / drift.md / drift.png."""
    if args.render_only:
        source = Path(args.out) / "drift.json"
        if not source.exists():
            console.print(f"[red]error:[/red] {source} does not exist")
            return 2
        doc = json.loads(source.read_text())
        doc["summary"], doc["false_alarms_ours"] = (summarise(doc["records"]),
                                                    false_alarms(doc["records"]))
        if args.note:
            doc["meta"]["note"] = args.note
        print_result(doc, console)
        paths = write_outputs(doc, Path(args.out))
        console.print("wrote " + ", ".join(str(p) for p in paths.values()))
        return 0
    start, end = parse_day(args.start), parse_day(args.end)
    if end <= start:
        console.print(f"[red]error:[/red] --end {end} is not after --start {start}")
        return 2
    if args.window < feature_drift.MIN_CALIBRATION_DAYS:
        console.print(f"[red]error:[/red] --window must be at least "
                      f"{feature_drift.MIN_CALIBRATION_DAYS} days (calibration)")
        return 2
    known = {s.key: s for s in SHIFTS}
    keys = [k.strip() for k in args.shifts.split(",") if k.strip()]
    unknown = [k for k in keys if k not in known]
    if unknown:
        console.print(f"[red]error:[/red] unknown shift(s) {', '.join(unknown)}; known: "
                      + ", ".join(known))
        return 2
    shifts = tuple(known[k] for k in keys)
    with_evidently = not args.no_evidently
    if with_evidently:
        try:
            metadata.version("evidently")
        except metadata.PackageNotFoundError:
            console.print("[red]error:[/red] Evidently is not installed (the optional `bench` "
                          f"extra): {INSTALL_HINT}, or run with --no-evidently")
            return 2
    load_before, busy0, own0 = os.getloadavg(), _machine_busy_s(), _own_cpu_s()
    began = time.perf_counter()
    records = bench(start, end, args.window, args.inject_every, args.evidently_every,
                    args.seed, with_evidently, console, shifts)
    wall = time.perf_counter() - began
    busy1, own1 = _machine_busy_s(), _own_cpu_s()
    machine = machine_info()
    other = None
    if busy0 is not None and busy1 is not None and wall > 0:
        other = max(0.0, (busy1 - busy0) - (own1 - own0)) / (wall * machine["cores"])
    if not records["clean"]:
        console.print("[red]error:[/red] no day in the range had features and a reference")
        return 2
    argv = ["ct bench drift", f"--start {start}", f"--end {end}"]
    defaults = {"window": 28, "inject_every": 7, "evidently_every": 1, "seed": 2013}
    argv += [f"--{k.replace('_', '-')} {getattr(args, k)}" for k, d in defaults.items()
             if getattr(args, k) != d]
    argv += [] if keys == list(known) else [f"--shifts {','.join(keys)}"]
    argv += ["--no-evidently"] if args.no_evidently else []
    doc = {
        "meta": {
            "command": " ".join(argv), "start": start.isoformat(), "end": end.isoformat(),
            "window": args.window, "inject_every": args.inject_every,
            "evidently_every": args.evidently_every if with_evidently else None,
            "seed": args.seed, "monitored": list(feature_drift.MONITORED),
            "detectors": DETECTORS if with_evidently else {"ours": DETECTORS["ours"]},
            "shifts": {s.key: {"label": s.label, "columns": list(s.columns)} for s in shifts},
            "calibration_config": feature_drift.config_dict(),
            "machine": machine, "versions": _versions(with_evidently),
            "wall_s": wall, "load_before": list(load_before), "load_after": list(os.getloadavg()),
            "other_cpu_share": other, "note": args.note,
            "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
        "summary": summarise(records),
        "false_alarms_ours": false_alarms(records),
        "records": records,
    }
    print_result(doc, console)
    paths = write_outputs(doc, Path(args.out))
    console.print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0

