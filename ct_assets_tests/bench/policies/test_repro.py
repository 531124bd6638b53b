"""The sketch experiment: `core.profiles`' exact sketches give the same references and drift
scores on every build; whylogs' default ones are what it is compared with."""

import datetime as dt

from ct_assets.bench.policies import repro
from ct_assets.core.loop import RetrainSpec
from ct_assets.sources.nycflights13 import AVAILABILITY


def test_exact_sketches_build_the_same_references_and_scores_every_time(monkeypatch):
    monkeypatch.setattr(repro, "SKETCH_MODELS", (0,))
    monkeypatch.setattr(repro, "KLL_DAYS", 2)
    spec = RetrainSpec.for_source(AVAILABILITY)
    first = repro._sketch_run(dt.date(2013, 2, 1), spec)
    second = repro._sketch_run(dt.date(2013, 2, 1), spec)
    exact = repro._differ(first["exact"], second["exact"])
    assert exact == {"reference_columns_differ": 0, "scores_differ": 0, "max_difference": 0,
                     "decisions_differ": 0}
    for kind in ("default", "exact"):
        assert len(first[kind]["scores"]) == 2 and all(s >= 0 for s in first[kind]["scores"])
        assert len(first[kind]["quantiles"]) >= 10                  # one per numeric column
        assert all(len(q) == 9 for q in first[kind]["quantiles"])  # its deciles
