"""The bench: build the labelled features, tune on the tune period (the gate, then the trigger,
`tuning`), replay every policy through the report period untuned, and measure what the
policies are compared with (hindsight ceiling, gate errors, CBPE, reproducibility): the
document `policies.json` holds."""

import datetime as dt
import math
import time
from collections.abc import Callable
from dataclasses import replace

from ct_assets.bench import reporting
from ct_assets.bench.policies import measures, repro
from ct_assets.bench.policies.episodes import EPISODE_OLD_DAYS, find_episodes
from ct_assets.bench.policies.hindsight import ceiling
from ct_assets.bench.policies.lab import Lab
from ct_assets.bench.policies.replay import Replay
from ct_assets.bench.policies.results import mean, rounded
from ct_assets.bench.policies.specs import SCHEDULES, ablations, production_spec, standard_policies
from ct_assets.bench.policies.summary import summarise
from ct_assets.bench.policies.tuning import (
    RULES,
    SPACE,
    Period,
    choose_gates,
    choose_policy,
    gate_grid,
    policy_grid,
)
from ct_assets.bench.train.data import labelled_frame
from ct_assets.core.gate import FLIGHT_GATE, GateConfig
from ct_assets.core.loop import RetrainSpec
from ct_assets.core.training import TrainParams
from ct_assets.sources.nycflights13 import AVAILABILITY

HINDSIGHT_RETRAINS = (6, 12, 24)


def _reporter(progress, stage: str, first: dt.date, total: int):
    def report(day: dt.date) -> None:
        if progress:
            progress(f"{stage}: {day}", (day - first).days + 1, total)
    return report


def bench(start: dt.date, split: dt.date, end: dt.date, *, spec: RetrainSpec | None = None,
          n_estimators: int | None = None, settings: int | None = None,
          reproduce: bool = True, tune_only: bool = False,
          progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Tune on [start, split), report [split, end): the JSON document. `settings` limits the
    trigger grid to its first settings (quick runs); `reproduce` replays production and the
    reactive drift policy a second time in a fresh process and compares the decisions;
    `tune_only` stops at the split and returns the tuning alone (nothing of the report
    period is replayed)."""
    began = time.perf_counter()
    params = TrainParams() if n_estimators is None else TrainParams(n_estimators=n_estimators)
    spec = spec or RetrainSpec.for_source(AVAILABILITY)
    if not start < split < end:
        raise ValueError(f"expected start < split < end, got {start}, {split}, {end}")
    tune, report = Period(start, split), Period(split, end)
    if progress:
        progress("building the features and labels", 0, 1)
    frame = labelled_frame(spec.window(start)[0], end)
    child = repro.start(start, end, spec, params) if reproduce else None
    lab = Lab(frame, spec=spec, params=params, keep_all=True)

    standard = standard_policies()
    gated = [standard[n] for n in SCHEDULES if n != "static"]
    gates = Replay(lab, gate_grid(gated), start)
    gates.run(split, _reporter(progress, "tuning the schedules' gates", start,
                               (split - start).days))
    chosen_gates, gate_rows = choose_gates(gates.results, tune)
    schedules = [replace(standard[n], gate=chosen_gates.get(n)) for n in SCHEDULES]
    schedules[SCHEDULES.index("daily")] = replace(
        schedules[SCHEDULES.index("daily")],
        compare_gates=(("before", FLIGHT_GATE), ("after", GateConfig())))

    grid = policy_grid()
    if settings is not None:
        grid = dict(list(grid.items())[:settings + 1])
    extras = [*ablations().values(), production_spec(
        "drift-reactive", "reactive drift alone at 0.8, fixed thresholds (the old `drift`)",
        refit=math.inf, performance=math.inf, estimate=math.inf, drift=0.8, horizon=0,
        max_age_days=10 ** 6, feedback=False)]
    replay = Replay(lab, [*schedules, standard["production"], *extras,
                          *(s for s, _ in grid.values())], start, gap_days=EPISODE_OLD_DAYS)
    replay.run(split, _reporter(progress, "tuning the trigger", start, (split - start).days))
    results = replay.results
    weekly = {n: r for n, r in results.items() if n.startswith("weekly-")}
    chosen, choice = choose_policy({n: results[n] for n in grid}, weekly, tune)
    gate_doc = {"chosen": {n: g.tolerance for n, g in chosen_gates.items()}, "rows": gate_rows}
    if tune_only:
        return {"periods": {"tune": tune.as_list()},
                "tuning": {"gate": gate_doc,
                           "policy": {"chosen": chosen, "setting": _jsonable_dict(
                               grid[chosen][1]), **choice, "settings": {
                                   n: _jsonable_dict(s) for n, (_, s) in grid.items()}}},
                "policies": [{"name": n, "tune": r.figures()} for n, r in results.items()],
                "meta": {"wall_s": round(time.perf_counter() - began, 1)}}
    replay.keep([n for n in results if n not in grid or n == chosen])
    lab.keep_all, lab.matrix = False, (split, end)
    replay.run(end, _reporter(progress, "replaying", start, (end - start).days))
    results = replay.results

    days = [d for d in sorted(lab.by_day) if split <= d < end]
    matrix = measures.matrix(lab.matrix_auc, days)
    hindsight = [{k: rounded(v, 5) if k == "mean_auc" else v for k, v in row.items()
                  if k != "days"} | {"days": [days[i].isoformat() for i in row["days"]]}
                 for row in ceiling(matrix, list(HINDSIGHT_RETRAINS))]
    episodes = find_episodes(lab.gaps)
    doc = summarise(
        results, tune, report, window_days=spec.window_days, holdout_days=spec.holdout_days,
        label_lag_days=spec.label_lag_days, episodes=episodes, gaps=lab.gaps, hindsight=hindsight,
        gate=measures.gate_errors(results["daily"], replay.signals("daily"), tune, report,
                                  FLIGHT_GATE, GateConfig()),
        cbpe=measures.cbpe_quality(results["production"], episodes, tune, report),
        tuning={"rules": RULES if settings is None else {
                    **RULES, "policy": RULES["policy"] + f" (this run: the first {settings} "
                    "draws only, `--settings`)"}, "space": {k: [_jsonable(v) for v in vs]
                                          for k, vs in SPACE.items()},
                "gate": gate_doc,
                "policy": {"chosen": chosen, "setting": _jsonable_dict(grid[chosen][1]),
                           **choice,
                           "settings": {n: _jsonable_dict(s) for n, (_, s) in grid.items()}},
                "production_is_chosen": _same(standard["production"], grid[chosen][0])},
        meta={})
    doc["reproducibility"] = repro.compare(child, results) if child else None
    if reproduce:
        doc["reproducibility"]["sketches"] = repro.sketch_experiment(start, spec)
    doc["meta"] = {
        "command": " ".join(["ct bench policies", f"--start {start}", f"--split {split}",
                             f"--end {end}"]
                            + ([f"--n-estimators {n_estimators}"] if n_estimators else [])
                            + ([f"--settings {settings}"] if settings is not None else [])
                            + ([] if reproduce else ["--no-reproduce"])),
        "n_estimators": params.n_estimators,
        "holdout_auc_pooled_minus_per_day": rounded(mean(
            [lab.holdout_auc[d] - lab.holdout_daily_auc[d] for d in lab.holdout_auc]), 5),
        "fits": lab.fits, "gates": lab.gates,
        "wall_s": round(time.perf_counter() - began, 1),
        "measured_at": reporting.local_time(),
        "machine": "{arch}, {cores} cores".format_map(reporting.machine_info()),
    }
    return doc


def _same(a, b) -> bool:
    return (a.thresholds, a.config, a.gate) == (b.thresholds, b.config, b.gate)


def _jsonable(value):
    return "off" if value in (math.inf, 10 ** 6) else value


def _jsonable_dict(setting: dict) -> dict:
    return {k: _jsonable(v) for k, v in setting.items()}

