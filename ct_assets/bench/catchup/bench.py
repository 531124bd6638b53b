"""One catch-up: land the days in a fresh temporary data dir, run the live loop until it has
caught up (or reached the first champion), read what it did, measure the floor."""

import argparse
import datetime as dt
import os
import shutil
import tempfile
import time
from pathlib import Path

from rich.console import Console

from ct_assets.bench import reporting


def project_intervals() -> str:
    """What `--interval 0` (each sensor's own interval, as `make dev` runs) means on this
    code, read from the sensors themselves."""
    from ct_assets.definitions import automation_sensor, landing_sensor, retrain_sensor

    return ("project defaults (" + ", ".join(
        f"{sensor.minimum_interval_seconds} s {name}" for name, sensor in (
            ("landing", landing_sensor), ("automation", automation_sensor),
            ("retrain", retrain_sensor))) + ")")


def _spec(args: argparse.Namespace):
    from ct_assets.core.loop import RetrainSpec
    from ct_assets.sources.nycflights13 import AVAILABILITY

    overrides = {k: v for k, v in (("window_days", args.window),
                                   ("holdout_days", args.holdout)) if v is not None}
    return RetrainSpec.for_source(AVAILABILITY, **overrides)


def bench(args: argparse.Namespace, console: Console, *, first: dt.date, through: dt.date,
          serve_from: dt.date | None, keep: Path | None) -> dict:
    import dagster as dg

    from ct_assets.bench.catchup import collect
    from ct_assets.bench.catchup.cli import day_list
    from ct_assets.bench.catchup.live import LoopConfig, run_loop
    from ct_assets.bench.catchup.watch import Watcher
    from ct_assets.bench.pipeline.data import land

    spec = _spec(args)          # a window too short to calibrate drift fails here, not later
    days = day_list(first, through)
    interval = args.interval or None
    quiet_s = args.quiet_s if args.quiet_s is not None else max(3 * (interval or 30), 15)
    with tempfile.TemporaryDirectory(prefix="ct-bench-catchup-") as name:
        tmp = Path(name)
        config = LoopConfig(data_dir=tmp / "data", home=tmp / "dagster_home",
                            sensor_interval_s=interval,
                            serve_from=serve_from.isoformat() if serve_from else None,
                            window_days=args.window, holdout_days=args.holdout,
                            trace_dir=tmp / "trace", launcher=args.launcher,
                            checkout=Path(args.baseline).resolve() if args.baseline else None)
        with reporting.progress(console) as bar:
            task = bar.add_task("landing the days (ct replay)", total=len(days))
            began = time.perf_counter()
            land(config.data_dir, days, 1, advance=lambda: bar.advance(task))
            landing_s = time.perf_counter() - began
            bar.remove_task(task)
            config.env()                        # DAGSTER_HOME and its dagster.yaml
            instance = dg.DagsterInstance.from_config(str(config.home))
            task = bar.add_task("starting dagster dev", total=None)

            def progress(what: str, done: int, total: int) -> None:
                bar.update(task, description=what, completed=done, total=total)

            watcher = Watcher(instance, days, args.until, quiet_s=quiet_s,
                              stall_s=max(300.0, 10 * (interval or 30)),
                              timeout_s=args.timeout, progress=progress)
            load_before = os.getloadavg()
            loop_began = time.time()
            live = run_loop(config, tmp / "dagster_dev.log", watcher, reporting.machine_busy_s)
            load_after = os.getloadavg()
            bar.remove_task(task)
        runs = collect.runs(instance, loop_began)
        traced = collect.traces(config.trace_dir)
        featurised = sorted(dt.date.fromisoformat(k) for k in
                            instance.get_materialized_partitions(dg.AssetKey("flight_features")))
        log_first = _first_served(instance)
        end = max(featurised) + dt.timedelta(days=1) if featurised else through
        decided = collect.decisions(instance, end)
        instance.dispose()
        wall = watcher.done_at if watcher.done_at is not None else live.wall_s
        result = {
            "days": len(days), "first_day": first.isoformat(), "last_day": through.isoformat(),
            "serve_from": serve_from.isoformat() if serve_from else None,
            "first_served": log_first.isoformat() if log_first else None,
            "sensor_interval_s": interval, "sensor_defaults": project_intervals(),
            "until": args.until, "launcher": args.launcher,
            "code": config.checkout and _commit(config.checkout),
            "window_days": spec.window_days, "holdout_days": spec.holdout_days,
            "verdict": live.verdict, "caught_up": watcher.caught_up or (
                args.until == "first-champion" and log_first is not None),
            "wall_s": round(wall, 1), "landing_s": round(landing_s, 1),
            "cpu_s": round(max(live.cpu_s, live.sampled_cpu_s), 1),
            "cpu_sampled_s": round(live.sampled_cpu_s, 1), "cpu_by_process": live.cpu_by_role,
            "core_cpu_s": traced["core_cpu_s"], "registry_cpu_s": traced["registry_cpu_s"],
            "runs": runs["runs"], "retrains": len(decided["retrains"]),
            "promotions": decided["promotions"], "failed_runs": runs["failed_runs"],
            "featurised_days": len(featurised),
            "timeline": {k: round(v, 1) for k, v in watcher.timeline.items()},
            "runs_by_kind": runs["by_kind"], "run_timeline": runs["timeline"],
            "samples": [[s.elapsed, s.runs, s.featurised, s.judged] for s in watcher.samples],
            "top_functions": traced["top_functions"], "live_retrains": decided["retrains"],
            "peak_tree_rss_mb": round(live.peak_tree_rss_mb), "max_processes": live.max_processes,
            "peak_process_rss_mb": round(live.peak_process_rss_mb),
            "machine_cpu_s": round(live.machine_cpu_s, 1),
            # less the tree's CPU as reported above (the reaped children's counters miss the
            # processes dagster dev had not reaped when it stopped; the sampler sees them)
            "other_cpu_s": round(max(live.machine_cpu_s - max(live.cpu_s, live.sampled_cpu_s),
                                     0.0), 1),
            "load_avg_before": [round(x, 2) for x in load_before],
            "load_avg_after": [round(x, 2) for x in load_after],
            "measured_at": reporting.local_time(),
            "machine": reporting.machine_info() | reporting.package_versions(["dagster"]),
        }
        if config.checkout:         # untraced: the time in core/ is not known
            result.update(core_cpu_s=None, registry_cpu_s=None, top_functions=[])
        result["cpu_share_outside_core"] = (
            round(1 - result["core_cpu_s"] / result["cpu_s"], 4)
            if result["cpu_s"] and result["core_cpu_s"] is not None else None)
        if result["caught_up"] and args.until == "caught-up" and not args.no_floor and log_first:
            with console.status("the floor: the same work as direct core calls"):
                result["floor"] = _floor(config.data_dir, days, featurised, log_first, spec)
            result["decisions_match"] = result["floor"]["retrains"] == decided["retrains"]
        if keep is not None:
            shutil.copytree(tmp, keep, dirs_exist_ok=True)
    return result


def _commit(checkout: Path) -> str:
    import subprocess

    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=checkout,
                         capture_output=True, text=True).stdout.strip()
    return f"{checkout} at {sha or 'unknown'}"


def _first_served(instance) -> dt.date | None:
    from ct_assets.defs import state

    log = state.decision_log(instance)
    return log.decisions[0].effective_from if len(log) else None


def _floor(data_dir: Path, days, featurised, serve_from, spec) -> dict:
    from ct_assets.bench.catchup.floor import floor

    return floor(data_dir, days, featurised, serve_from, spec)
