"""The bench itself: every day of the range through both detectors, every record kept, and
the document `drift.json` is written from."""

import argparse
import datetime as dt
import os
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd
from rich.console import Console

from ct_assets.bench import reporting
from ct_assets.bench.drift.analysis import false_alarms, summarise
from ct_assets.bench.drift.detectors import Evidently, Ours, feature_days
from ct_assets.bench.drift.shifts import DETECTORS, SHIFTS, Shift, inject
from ct_assets.core import feature_drift
from ct_assets.core.days import day_range


def _own_cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime



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
    with (reporting.progress(console) as bar,
          tempfile.TemporaryDirectory(prefix="ct-bench-drift-") as tmp):
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


def document(args: argparse.Namespace, start: dt.date, end: dt.date, shifts: tuple[Shift, ...],
             console: Console) -> dict | None:
    """Run the bench as the command line says and assemble `drift.json`: meta (command,
    machine, versions, load), summary, our false alarms, the records. None if no day in the
    range had features and a reference."""
    with_evidently = not args.no_evidently
    load_before, busy0, own0 = os.getloadavg(), reporting.machine_busy_s(), _own_cpu_s()
    began = time.perf_counter()
    records = bench(start, end, args.window, args.inject_every, args.evidently_every,
                    args.seed, with_evidently, console, shifts)
    wall = time.perf_counter() - began
    busy1, own1 = reporting.machine_busy_s(), _own_cpu_s()
    machine = reporting.machine_info()
    other = None
    if wall > 0:
        other = max(0.0, (busy1 - busy0) - (own1 - own0)) / (wall * machine["cores"])
    if not records["clean"]:
        return None
    keys = [s.key for s in shifts]
    argv = ["ct bench drift", f"--start {start}", f"--end {end}"]
    defaults = {"window": 28, "inject_every": 7, "evidently_every": 1, "seed": 2013}
    argv += reporting.changed_options(args, defaults)
    argv += [] if keys == [s.key for s in SHIFTS] else [f"--shifts {','.join(keys)}"]
    argv += ["--no-evidently"] if args.no_evidently else []
    versions = ["whylogs", "pandas", "numpy", "scipy"] + (["evidently"] if with_evidently
                                                          else [])
    return {
        "meta": {
            "command": " ".join(argv), "start": start.isoformat(), "end": end.isoformat(),
            "window": args.window, "inject_every": args.inject_every,
            "evidently_every": args.evidently_every if with_evidently else None,
            "seed": args.seed, "monitored": list(feature_drift.MONITORED),
            "detectors": DETECTORS if with_evidently else {"ours": DETECTORS["ours"]},
            "shifts": {s.key: {"label": s.label, "columns": list(s.columns)} for s in shifts},
            "calibration_config": feature_drift.config_dict(),
            "machine": machine, "versions": reporting.package_versions(versions),
            "wall_s": wall, "load_before": list(load_before), "load_after": list(os.getloadavg()),
            "other_cpu_share": other, "note": args.note,
            "finished": reporting.finished_at(),
        },
        "summary": summarise(records),
        "false_alarms_ours": false_alarms(records),
        "records": records,
    }
