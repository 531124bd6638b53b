"""Reproducible decisions: a second run, in a fresh process (fresh profiles, fresh fits),
replays `production` and the reactive drift policy and must make the same decisions; and the
cause of the old irreproducibility, shown on the references and the drift score themselves:
profiles built twice in one process and once in a fresh one, with whylogs' default (randomly
compacted) KLL sketches and with `core.profiles`' exact ones."""

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


SKETCH_MODELS = (0, 60, 120)         # the references: models trained for start + these days


def _default_view(frame, columns):
    """A profile as whylogs builds it by default (KLL sketches of k = 1024, compacted at
    random once they hold more values): what `core.profiles` did before its sketches were
    made exact. A day (about 900 flights) fits; a 28-day reference merged from the days does
    not."""
    from ct_assets.core.profiles import _whylogs
    return _whylogs().log(frame[columns]).profile().view()


def _sketch_run(start: dt.date, spec: RetrainSpec) -> dict:
    """One build of the experiment, from scratch: per sketch kind, the daily profiles, the
    references of the models trained for start + SKETCH_MODELS days (merged from their
    training days, as `candidate_model` logs them), each reference's quantiles and the drift
    scores of the KLL_DAYS days after it."""
    from ct_assets.bench.train.data import labelled_frame
    from ct_assets.core import loop, profiles
    from ct_assets.core.features import FEATURE_NAMES

    models = [start + dt.timedelta(days=k) for k in SKETCH_MODELS]
    frame = labelled_frame(spec.split(models[0])[0][0],
                           models[-1] + dt.timedelta(days=KLL_DAYS))
    by_day = dict(iter(frame.groupby("ds", sort=True)))
    out = {}
    for kind, build in (("default", _default_view), ("exact", profiles.profile_frame)):
        views = {d: build(rows, FEATURE_NAMES) for d, rows in by_day.items()}
        scores, quantiles = [], []
        for model in models:
            reference = loop.drift_reference({d: views[d] for d in spec.split(model)[0]})
            for column in FEATURE_NAMES:
                metric = reference.view.get_column(column).get_metric("distribution")
                if metric is not None and not metric.kll.value.is_empty():
                    quantiles.append([float(q) for q in metric.kll.value.get_quantiles(
                        [i / 10 for i in range(1, 10)])])
            scores += [loop.drift_score(reference, views[d])[0]
                       for d in (model + dt.timedelta(days=i) for i in range(KLL_DAYS))]
        out[kind] = {"scores": scores, "quantiles": quantiles}
    return out


def _differ(a: dict, b: dict) -> dict:
    pairs = list(zip(a["scores"], b["scores"], strict=True))
    return {"reference_columns_differ": sum(x != y for x, y in zip(
                a["quantiles"], b["quantiles"], strict=True)),
            "scores_differ": sum(x != y for x, y in pairs),
            "max_difference": max(abs(x - y) for x, y in pairs),
            "decisions_differ": sum((x >= THRESHOLD) != (y >= THRESHOLD) for x, y in pairs)}


def sketch_experiment(start: dt.date, spec: RetrainSpec) -> dict:
    """Is whylogs' default sketching the cause of irreproducible drift decisions? The
    experiment built twice in this process and once in a fresh one (spawned), with whylogs'
    default sketches and with `core.profiles`' exact ones: how many reference quantiles,
    drift scores and decisions at THRESHOLD differ between the builds."""
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    with pool:
        fresh = pool.submit(_sketch_run, start, spec)
        first, second = _sketch_run(start, spec), _sketch_run(start, spec)
        other = fresh.result()
    models = [start + dt.timedelta(days=k) for k in SKETCH_MODELS]
    out = {"models": [m.isoformat() for m in models], "days": KLL_DAYS * len(models),
           "columns": len(first["exact"]["quantiles"]) // len(models), "threshold": THRESHOLD}
    for kind in ("default", "exact"):
        out[kind] = {"same_process": _differ(first[kind], second[kind]),
                     "fresh_process": _differ(first[kind], other[kind])}
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
    return {"decisions": {n: _decisions(r) for n, r in results.items()}}


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
    out = {"policies": {}}
    for name in POLICIES:
        mine, theirs = _decisions(results[name]), second["decisions"][name]
        out["policies"][name] = {
            "retrains": len(mine), "identical": mine == theirs,
            "differing": sum(a != b for a, b in zip(mine, theirs, strict=False))
            + abs(len(mine) - len(theirs))}
    return out
