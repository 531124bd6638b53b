"""How large a training window one Celery worker can fit: memory and time of `core.training`
on the real window of 2013-03-01 repeated k times (numeric features jittered, so the rows are
distinct), each size in a fresh process that first imports what a worker imports. What grows
with the rows is the frame plus the fit's own peak over it; a straight line through those gives
the rows a worker of a given memory can train on. The path past it is in `cluster.md`."""

import datetime as dt
import multiprocessing as mp
import resource
import time

import numpy as np

DAY = dt.date(2013, 3, 1)
SCALES = (1, 8, 32)


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _fit(scale: int, window: int, holdout: int, queue) -> None:
    import threading

    import pandas as pd

    import ct_assets.definitions  # noqa: F401  (what a worker process has imported)
    from ct_assets.bench.train import labelled_frame
    from ct_assets.core import training
    from ct_assets.core.days import day_range

    imported = _rss_mb()
    days = list(day_range(DAY - dt.timedelta(days=window), DAY))
    train_days, _ = training.window_split(days, holdout)
    frame = labelled_frame(days[0], DAY)
    frame = frame[frame["ds"].isin(train_days) & frame["is_delayed"].notna()]
    rng = np.random.default_rng(scale)
    numeric = [c for c in frame.columns if frame[c].dtype.kind == "f" and c != "is_delayed"]
    copies = []
    for k in range(scale):
        copy = frame.copy()
        if k:
            copy[numeric] = copy[numeric] * (1 + rng.normal(0, 0.01, (len(copy), len(numeric))))
        copies.append(copy)
    big = pd.concat(copies, ignore_index=True)
    del copies, frame
    frame_mb = big.memory_usage(deep=True).sum() / 2**20
    before = _rss_mb()
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.wait(0.05):
            peak[0] = max(peak[0], _rss_mb())

    sampler = threading.Thread(target=sample)
    sampler.start()
    began = time.perf_counter()
    training.fit(big, training.TrainParams())
    fit_s = time.perf_counter() - began
    done.set()
    sampler.join()
    queue.put({"scale": scale, "rows": len(big), "fit_s": round(fit_s, 2),
               "imported_mb": round(imported, 1), "frame_mb": round(frame_mb, 1),
               "fit_extra_mb": round(max(peak[0] - before, 0.0), 1),
               "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                                    1)})


def measure(window: int = 28, holdout: int = 3, scales=SCALES) -> dict:
    ctx = mp.get_context("spawn")
    points = []
    for scale in scales:
        queue = ctx.Queue()
        proc = ctx.Process(target=_fit, args=(scale, window, holdout, queue))
        proc.start()
        points.append(queue.get(timeout=3600))
        proc.join()
    rows = np.array([p["rows"] for p in points], dtype=float)
    need = np.array([p["frame_mb"] + p["fit_extra_mb"] for p in points])
    per_row = np.polyfit(rows, need, 1)[0]
    base = float(np.mean([p["imported_mb"] for p in points]))
    fit_per_row = np.polyfit(rows, [p["fit_s"] for p in points], 1)[0]

    def rows_for(gb: float) -> int:
        return int((gb * 1024 - base) / per_row) if per_row > 0 else 0

    return {"day": DAY.isoformat(), "window_days": window, "points": points,
            "mb_per_million_rows": round(per_row * 1e6, 1), "base_mb": round(base, 1),
            "fit_s_per_million_rows": round(fit_per_row * 1e6, 1),
            "rows_for_gb": {gb: rows_for(gb) for gb in (4, 16, 24)}}
