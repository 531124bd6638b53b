"""Reproducible decisions: a second run, in a fresh process (fresh profiles, fresh fits),
replays `production` and the reactive drift policy and must make the same decisions; and the
cause of the old irreproducibility, shown on the drift score itself: profiles built twice with
whylogs' default (randomly compacted) KLL sketches against profiles with `core.profiles`'
exact ones."""

import concurrent.futures
import datetime as dt
import multiprocessing

from ct_assets.core.loop import RetrainSpec
from ct_assets.core.training import TrainParams

POLICIES = ("production", "drift-reactive")
KLL_DAYS = 30                      # served days of the sketch experiment
THRESHOLD = 0.8                    # the drift threshold a changed score could cross


def _decisions(result) -> list[tuple[str, tuple[str, ...], bool]]:
    return [(r.day.isoformat(), tuple(sorted(r.kinds)), bool(r.promoted))
            for r in result.retrains]


def _default_view(rows, columns):
    """A profile as whylogs builds it by default (KLL sketches of k = 256, compacted at
    random): what `core.profiles` did before its sketches were made exact."""
    from ct_assets.core.profiles import _whylogs
    return _whylogs().log(rows[columns]).profile().view()


def _sketches(lab, start: dt.date) -> dict:
    """Drift scores of `KLL_DAYS` days against the first model's reference, each built twice
    with default sketches and twice with exact ones: how many scores and decisions differ."""
    from ct_assets.core import loop, profiles
    from ct_assets.core.features import FEATURE_NAMES

    train_days = lab.window(start)[0]
    days = [start + dt.timedelta(days=i) for i in range(KLL_DAYS)]
    out = {"days": KLL_DAYS, "threshold": THRESHOLD}
    for name, build in (("default", _default_view), ("exact", profiles.profile_frame)):
        runs = []
        for _ in range(2):
            views = {d: build(lab.rows(d), FEATURE_NAMES) for d in [*train_days, *days]}
            reference = loop.drift_reference({d: views[d] for d in train_days})
            runs.append([loop.drift_score(reference, views[d])[0] for d in days])
        first, second = runs
        out[name] = {
            "scores_differ": sum(a != b for a, b in zip(first, second, strict=True)),
            "max_difference": max(abs(a - b) for a, b in zip(first, second, strict=True)),
            "decisions_differ": sum((a >= THRESHOLD) != (b >= THRESHOLD)
                                    for a, b in zip(first, second, strict=True))}
    return out


def _second_run(start: dt.date, end: dt.date, spec: RetrainSpec, params: TrainParams) -> dict:
    from ct_assets.bench.policies import specs
    from ct_assets.bench.policies.lab import Lab
    from ct_assets.bench.policies.replay import simulate
    from ct_assets.bench.train.data import labelled_frame

    frame = labelled_frame(spec.window(start)[0], end)
    lab = Lab(frame, spec=spec, params=params)
    policies = [specs.standard_policies()["production"], specs.production_spec(
        "drift-reactive", refit=float("inf"), performance=float("inf"),
        estimate=float("inf"), drift=THRESHOLD, horizon=0, max_age_days=specs.OFF,
        feedback=False)]
    results = simulate(frame, policies, start, end, lab=lab)
    return {"decisions": {n: _decisions(r) for n, r in results.items()},
            "sketches": _sketches(lab, start)}


def start(start_day: dt.date, end: dt.date, spec: RetrainSpec,
          params: TrainParams) -> concurrent.futures.Future:
    """The second run, started now in a fresh process (spawned: nothing inherited)."""
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    future = pool.submit(_second_run, start_day, end, spec, params)
    pool.shutdown(wait=False)
    return future


def compare(future: concurrent.futures.Future, results: dict) -> dict:
    """The second run's decisions against this run's, policy by policy."""
    second = future.result()
    out = {"policies": {}, "sketches": second["sketches"]}
    for name in POLICIES:
        mine, theirs = _decisions(results[name]), second["decisions"][name]
        out["policies"][name] = {
            "retrains": len(mine), "identical": mine == theirs,
            "differing": sum(a != b for a, b in zip(mine, theirs, strict=False))
            + abs(len(mine) - len(theirs))}
    return out
