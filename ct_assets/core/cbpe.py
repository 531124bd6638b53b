"""Confidence-based performance estimation (CBPE): the AUC a model is expected to reach on a day
whose outcomes are not known yet, from its calibrated scores alone.

If a model is calibrated, a flight scored p is delayed with probability p. The day's expected
ROC curve follows: at each score threshold the expected true positives are the sum of p above
it and the expected false positives the sum of 1 - p, and the area under that curve is the
estimate (the method NannyML calls CBPE; nannyml itself pins lightgbm<4.6 and cannot be
installed beside ours, so it is written here). Its stated error is the spread of the AUC the
day would have if its outcomes were drawn from those probabilities: outcomes are sampled from
the calibrated scores with a fixed seed, the ranking held fixed. What it cannot see is a
change in what predicts delays: that breaks the calibration, which the estimate assumes.

The calibration is the model's own: a monotone map (isotonic regression, pool-adjacent
violators) from its scores to the delay rates observed on its held-out days, fitted when the
model is trained and kept with it as two lists of knots.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Calibration:
    """A monotone map from a model's score to a delay probability: linear between knots,
    flat beyond the outer ones."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def apply(self, scores: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(scores, dtype=float), self.x, self.y)

    def as_dict(self) -> dict:
        return {"x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_dict(cls, raw: dict) -> "Calibration":
        return cls(x=tuple(float(v) for v in raw["x"]), y=tuple(float(v) for v in raw["y"]))


IDENTITY = Calibration(x=(0.0, 1.0), y=(0.0, 1.0))


def fit_calibration(y: np.ndarray, scores: np.ndarray, min_block: int = 50) -> Calibration:
    """Isotonic regression of the outcomes on the scores (pool adjacent violators), with
    every block holding at least `min_block` flights so a few flights do not make a step."""
    order = np.argsort(np.asarray(scores, dtype=float), kind="stable")
    s = np.asarray(scores, dtype=float)[order]
    t = np.asarray(y, dtype=float)[order]
    if len(t) < 2 * min_block:
        raise ValueError(f"a calibration needs at least {2 * min_block} flights, got {len(t)}")
    # start from consecutive chunks of min_block flights, then pool while not increasing
    edges = list(range(0, len(t), min_block))
    if len(t) - edges[-1] < min_block:
        edges.pop()
    blocks = [[t[a:b].sum(), b - a, s[a:b].mean() * (b - a)]
              for a, b in zip(edges, [*edges[1:], len(t)], strict=True)]
    pooled: list[list[float]] = []
    for block in blocks:
        pooled.append(block)
        while len(pooled) > 1 and pooled[-2][0] / pooled[-2][1] >= pooled[-1][0] / pooled[-1][1]:
            last = pooled.pop()
            pooled[-1] = [a + b for a, b in zip(pooled[-1], last, strict=True)]
    x = tuple(float(b[2] / b[1]) for b in pooled)
    rate = tuple(float(np.clip(b[0] / b[1], 1e-4, 1 - 1e-4)) for b in pooled)
    if len(x) == 1:
        return Calibration(x=(0.0, 1.0), y=(rate[0], rate[0]))
    return Calibration(x=x, y=rate)


@dataclass(frozen=True)
class Estimate:
    """The estimated AUC of a day and its stated error (standard deviation)."""

    auc: float
    sd: float
    n: int


def expected_auc(scores: np.ndarray, p: np.ndarray) -> float:
    """Area under the expected ROC curve: flights ranked by `scores`, each a positive with
    probability `p` (ties in the score share a step)."""
    scores, p = np.asarray(scores, dtype=float), np.asarray(p, dtype=float)
    order = np.argsort(-scores, kind="stable")
    s, p = scores[order], p[order]
    # one point of the curve per distinct score: cumulative expected positives / negatives
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]
    tp = np.r_[0.0, np.cumsum(p)[last]]
    fp = np.r_[0.0, np.cumsum(1 - p)[last]]
    if tp[-1] <= 0 or fp[-1] <= 0:
        return float("nan")
    return float(np.trapz(tp / tp[-1], fp / fp[-1]))


def estimate(scores: np.ndarray, calibration: Calibration = IDENTITY, draws: int = 200,
             seed: int = 0) -> Estimate:
    """CBPE of one day: the expected AUC of `scores` given their calibrated probabilities, and
    the standard deviation of the AUC over `draws` outcome sets sampled from them."""
    scores = np.sort(np.asarray(scores, dtype=float))   # the flights' order plays no part
    p = calibration.apply(scores)
    n = len(scores)
    if n < 2:
        return Estimate(float("nan"), float("nan"), n)
    point = expected_auc(scores, p)
    rng = np.random.default_rng(seed)
    sampled = rng.random((draws, n)) < p
    positives = sampled.sum(axis=1)
    sampled = sampled[(positives > 0) & (positives < n)]
    positives = positives[(positives > 0) & (positives < n)].astype(float)
    if len(positives) < 2:
        return Estimate(point, float("nan"), n)
    # the ranking is fixed, only the outcomes are drawn: Mann-Whitney from the rank sums
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    aucs = (sampled @ ranks - positives * (positives + 1) / 2) / (positives * (n - positives))
    return Estimate(point, float(np.std(aucs, ddof=1)), n)
