"""The retrain loop, once: which days a model serving day D learns from and is judged on, and
the steps of a retrain (fit, gate, drift reference, drift score). The assets (and the
partition mappings of their inputs), the sensors and `ct bench policies` all take their
windows from a `RetrainSpec` and call these functions; no training window is written
anywhere else. Who serves a day is `core/serving.py`; the sensor's walk over the served days
is `core/walk.py`.

A model serving D is trained as of D's first cutoff, so it may only use outcomes published
before it: the newest labelled day is `D - label_lag_days`, derived from the source's declared
availability (`features.published_through`), never assumed. Its window is the
`window_days` labelled days ending there; the newest `holdout_days` of them are kept out of
training and judge the candidate against the champion at the gate.
"""

import datetime as dt
import hashlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ct_assets.core import cbpe, evaluation, feature_drift, gate, training
from ct_assets.core.availability import SourceAvailability
from ct_assets.core.days import day_range
from ct_assets.core.feature_drift import MIN_CALIBRATION_DAYS
from ct_assets.core.features import KEY_COLUMNS, published_through

if TYPE_CHECKING:
    from whylogs.core import DatasetProfileView

# A candidate is compared with the champion per slice of these columns as well as overall.
SLICES = ("carrier", "origin")


@dataclass(frozen=True)
class RetrainSpec:
    """The window of a retrain, in days (see the module docstring)."""

    window_days: int = 28
    holdout_days: int = 3
    label_lag_days: int = 2
    slices: tuple[str, ...] = SLICES
    refit_days: int = 7          # labelled days of the cheap refit (the label-driven signal)

    @classmethod
    def for_source(cls, availability: SourceAvailability, **overrides) -> "RetrainSpec":
        """The spec whose label lag follows the source's outcome publication."""
        probe = dt.date(2001, 1, 1)
        lag = (probe - published_through(probe, availability)).days
        return cls(label_lag_days=lag, **overrides)

    def __post_init__(self):
        if self.holdout_days < 1:
            raise ValueError(f"holdout_days={self.holdout_days}: the gate needs at least 1 "
                             "held-out day")
        if self.window_days - self.holdout_days < MIN_CALIBRATION_DAYS:
            raise ValueError(
                f"window_days={self.window_days} with holdout_days={self.holdout_days} leaves "
                f"{self.window_days - self.holdout_days} training day(s); the drift reference "
                f"logged with a model is calibrated on its training days and needs at least "
                f"{MIN_CALIBRATION_DAYS}")

    @property
    def train_days_count(self) -> int:
        return self.window_days - self.holdout_days

    def window(self, day: dt.date) -> tuple[dt.date, dt.date]:
        """[start, end) of the labelled days a model serving `day` may use."""
        end = day - dt.timedelta(days=self.label_lag_days - 1)
        return end - dt.timedelta(days=self.window_days), end

    def days(self, day: dt.date) -> list[dt.date]:
        return list(day_range(*self.window(day)))

    def split(self, day: dt.date) -> tuple[list[dt.date], list[dt.date]]:
        """(training days, held-out days) of the model serving `day`."""
        days = self.days(day)
        return days[:-self.holdout_days], days[-self.holdout_days:]

    def partition_offsets(self) -> tuple[int, int]:
        """(start_offset, end_offset) of a `TimeWindowPartitionMapping` from partition D to
        its window (both ends inclusive, in days)."""
        return -(self.label_lag_days + self.window_days - 1), -self.label_lag_days


def _in_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in key order: a fit and a bootstrap depend on row order, and the warehouse and an
    in-memory replay must give the same model and the same gate."""
    return frame.sort_values(list(KEY_COLUMNS), kind="stable").reset_index(drop=True)


@dataclass
class CandidateFit:
    """A candidate fitted on its training days, with its scores on its held-out days."""

    model: training.DelayModel
    holdout_auc: float          # pooled over the held-out days
    holdout_daily_auc: float    # mean of its per-day AUCs: what it promises for one served day
    metrics: dict[str, float]
    fit_cpu_s: float


def fit_candidate(train: pd.DataFrame, held_out: pd.DataFrame,
                  params: training.TrainParams = training.TrainParams()) -> CandidateFit:
    """Fit on `train` (labelled features of the training days) and score `held_out`.

    The model carries (in `trained_on`, saved with it) what its served days are compared
    with: its calibration, fitted on its held-out days (`core.cbpe`), and the mean per-day
    CBPE estimate on those days, the promise of the estimated performance signal."""
    began = time.process_time()
    model = training.fit(_in_order(train), params)
    cpu = time.process_time() - began
    held = _in_order(held_out[held_out[training.LABEL].notna()])
    y = held[training.LABEL].astype(bool).to_numpy()
    p = model.predict_proba(held)
    scores = evaluation.metrics(y, p)
    days = held["ds"].to_numpy()
    scores["daily_auc"] = evaluation.mean_daily_auc(y, p, days)
    calibration = cbpe.fit_calibration(y, p)
    scores["cbpe_auc"] = float(np.mean([cbpe.estimate(p[days == d], calibration).auc
                                        for d in pd.unique(days)]))
    model.trained_on.update(calibration=calibration.as_dict(), cbpe_auc=scores["cbpe_auc"])
    return CandidateFit(model, scores["auc"], scores["daily_auc"], scores, cpu)


def performance_estimate(model: training.DelayModel, p: np.ndarray
                         ) -> tuple[cbpe.Estimate, float | None]:
    """CBPE of a served day from the model's scores `p` on its flights (no labels), and the
    estimated drop: the estimate the model made of its held-out days minus this one (None
    for a model saved without a calibration)."""
    if "calibration" not in model.trained_on:
        return cbpe.Estimate(float("nan"), float("nan"), len(p)), None
    estimate = cbpe.estimate(p, cbpe.Calibration.from_dict(model.trained_on["calibration"]))
    return estimate, float(model.trained_on["cbpe_auc"]) - estimate.auc


# The cheap refit of the label-driven signal: a small model on the newest labelled days
# (about a tenth of a candidate's CPU), compared with the champion on the day judged.
REFIT_PARAMS = training.TrainParams(n_estimators=60, learning_rate=0.1, num_leaves=15)


@dataclass(frozen=True)
class RefitScore:
    auc: float            # the refit's AUC on the judged day
    cpu_s: float


def refit_days(spec: RetrainSpec, day: dt.date) -> list[dt.date]:
    """The labelled days the cheap refit judging `day` trains on: the `refit_days` before it."""
    return list(day_range(day - dt.timedelta(days=spec.refit_days), day))


def refit_inputs(train: pd.DataFrame, judged: pd.DataFrame,
                 params: training.TrainParams = REFIT_PARAMS) -> str:
    """A digest of everything `refit_score` depends on: the rows it trains on and judges, and
    its parameters. The refit does not depend on the champion, so re-scoring a day for a new
    champion can reuse the day's refit while this digest is unchanged; a re-landed day of its
    window changes it."""
    digest = hashlib.sha256(repr(params).encode())
    for frame in (_in_order(train), judged):
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def refit_score(train: pd.DataFrame, judged: pd.DataFrame,
                params: training.TrainParams = REFIT_PARAMS) -> RefitScore:
    """Fit the cheap refit on `train` (labelled features of `refit_days`) and score the
    labelled flights of the judged day; the signal is its AUC minus the champion's there."""
    labels = train[training.LABEL].dropna()
    if labels.nunique() < 2:                   # no history yet: nothing to compare with
        return RefitScore(float("nan"), 0.0)
    began = time.process_time()
    model = training.fit(_in_order(train), params)
    cpu = time.process_time() - began
    rows = judged[judged[training.LABEL].notna()]
    return RefitScore(evaluation.auc(rows[training.LABEL].astype(bool).to_numpy(),
                                     model.predict_proba(rows)), cpu)


@dataclass
class GateInputs:
    """The held-out flights a candidate is judged on, both models' scores on them."""

    y: np.ndarray
    p_candidate: np.ndarray
    p_champion: np.ndarray | None
    slices: dict[str, np.ndarray]
    days: np.ndarray                 # the held-out day of each flight: the bootstrap's blocks


def gate_inputs(held_out: pd.DataFrame, candidate: training.DelayModel,
                champion: training.DelayModel | None, spec: RetrainSpec) -> GateInputs:
    held = _in_order(held_out[held_out[training.LABEL].notna()])
    return GateInputs(
        y=held[training.LABEL].astype(bool).to_numpy(),
        p_candidate=candidate.predict_proba(held),
        p_champion=None if champion is None else champion.predict_proba(held),
        slices={name: held[name].to_numpy() for name in spec.slices},
        days=held["ds"].to_numpy())


def gate_candidate(inputs: GateInputs, config: gate.GateConfig = gate.GateConfig()
                   ) -> gate.GateDecision:
    """The gate's verdict on the candidate against the champion serving its day."""
    return gate.decide(inputs.y, inputs.p_candidate, inputs.p_champion, inputs.slices, config,
                       days=inputs.days)


@dataclass
class DriftReference:
    """The reference a model's served days are scored against: the merged profile of its
    training days and the per-feature calibration from their daily profiles."""

    view: "DatasetProfileView"
    calibration: dict[str, dict]
    days: list[dt.date]


def drift_reference(views: dict[dt.date, Any]) -> DriftReference:
    """The reference of a model trained on the days of `views` (their daily feature profiles)."""
    days = sorted(views)
    merged = None
    for day in days:
        merged = views[day] if merged is None else merged.merge(views[day])
    return DriftReference(view=merged, days=days, calibration=feature_drift.calibrate(
        merged, [views[d] for d in days]))


def drift_score(reference: DriftReference, view) -> tuple[float, pd.DataFrame]:
    """A served day's drift score against a model's reference, and each feature's severity."""
    scores = feature_drift.score(reference.view, view, reference.calibration)
    return feature_drift.summary_score(scores), scores
