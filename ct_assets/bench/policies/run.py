"""The bench: build the labelled features, replay the policies and the experimental variants
in one lockstep, find the episodes, and return the document `policies.json` holds."""

import datetime as dt
import time
from collections.abc import Callable

from ct_assets.bench import reporting
from ct_assets.bench.policies.episodes import EPISODE_OLD_DAYS, find_episodes
from ct_assets.bench.policies.lab import Lab
from ct_assets.bench.policies.replay import simulate
from ct_assets.bench.policies.results import mean
from ct_assets.bench.policies.specs import (
    POLICIES,
    PolicySpec,
    experimental_variants,
    standard_policies,
)
from ct_assets.bench.policies.summary import rounded, summarise
from ct_assets.bench.train.data import labelled_frame
from ct_assets.core.loop import RetrainSpec
from ct_assets.core.training import TrainParams
from ct_assets.sources.nycflights13 import AVAILABILITY


def _variants_flag(variants: list[PolicySpec]) -> list[str]:
    if not variants:
        return []
    names = [v.name for v in variants]
    return ["--variants " + ("all" if names == list(experimental_variants())
                             else ",".join(names))]


def bench(start: dt.date, end: dt.date, names: list[str], *, spec: RetrainSpec | None = None,
          n_estimators: int | None = None,
          progress: Callable[[str, int, int], None] | None = None,
          specs: dict[str, PolicySpec] | None = None,
          variants: list[PolicySpec] | None = None) -> dict:
    """Build the frame, replay the policies (and the experimental `variants`, in the same
    lockstep so they share every fit), find the episodes: the JSON document."""
    began = time.perf_counter()
    params = TrainParams() if n_estimators is None else TrainParams(n_estimators=n_estimators)
    if progress:
        progress("building the features and labels", 0, 1)
    spec = spec or RetrainSpec.for_source(AVAILABILITY)
    frame = labelled_frame(spec.window(start)[0], end)
    lab = Lab(frame, spec=spec, params=params)
    total = (end - start).days
    specs = specs or standard_policies()
    variants = variants or []
    clash = {v.name for v in variants} & set(names)
    if clash:
        raise ValueError(f"variant names {sorted(clash)} clash with the policies")
    results = simulate(frame, [specs[n] for n in names] + variants, start, end, lab=lab,
                       gap_days=EPISODE_OLD_DAYS,
                       progress=lambda d: progress and progress(
                           f"replaying {d}", (d - start).days + 1, total))
    tried = {v.name: results.pop(v.name) for v in variants}
    gaps = lab.gaps
    episodes = find_episodes(gaps)
    meta = {
        "command": " ".join(["ct bench policies", f"--start {start}", f"--end {end}"]
                            + ([f"--policies {','.join(names)}"] if names != list(POLICIES)
                               else [])
                            + ([f"--n-estimators {n_estimators}"] if n_estimators else [])
                            + _variants_flag(variants)),
        "n_estimators": params.n_estimators,
        "holdout_auc_pooled_minus_per_day": rounded(mean(
            [lab.holdout_auc[d] - lab.holdout_daily_auc[d] for d in lab.holdout_auc]), 5),
        "fits": lab.fits, "gates": lab.gates,
        "wall_s": round(time.perf_counter() - began, 1),
        "measured_at": reporting.local_time(),
        "machine": "{arch}, {cores} cores".format_map(reporting.machine_info()),
    }
    return summarise(results, start, end, window_days=spec.window_days,
                     holdout_days=spec.holdout_days, label_lag_days=spec.label_lag_days,
                     episodes=episodes, gaps=gaps, meta=meta, variants=tried)
