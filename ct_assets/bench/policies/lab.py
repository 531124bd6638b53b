"""The shared laboratory of a replay: day frames, daily feature profiles, fitted candidates (one
per training day), their drift references, daily scores, CBPE estimates, cheap refits and gate
decisions, each computed once and shared by every policy. Every step is the production one
(`core.loop`): the same window (`RetrainSpec`), fit, held-out promise, drift reference, drift
score, performance estimate, refit and gate inputs."""

import datetime as dt
import math
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ct_assets.core import evaluation, loop, profiles
from ct_assets.core.features import FEATURE_NAMES
from ct_assets.core.gate import GateConfig, GateDecision
from ct_assets.core.loop import RetrainSpec
from ct_assets.core.training import DelayModel, TrainParams
from ct_assets.sources.nycflights13 import AVAILABILITY


@dataclass
class Fitted:
    """A candidate trained for `day`: the model, its days, its held-out AUC, its fit cost."""

    day: dt.date
    model: DelayModel
    train_days: list[dt.date]
    holdout_days: list[dt.date]
    holdout_auc: float
    fit_cpu_s: float
    holdout_daily_auc: float           # mean of its AUCs on each held-out day


@dataclass
class GateRun:
    decision: GateDecision
    cpu_s: float                       # scoring both models once + this decision


@dataclass(frozen=True)
class Estimated:
    """CBPE of a served day by a model: the estimate, its stated error, the estimated drop."""

    auc: float
    sd: float
    drop: float | None


class Lab:
    """Day frames, daily feature profiles, fitted candidates (one per training day), their drift
    references, daily scores and gate decisions, each computed once and shared by the policies.

    Models no policy serves any more are dropped by `forget` (their cost and held-out AUC are
    kept), so a year of daily retrains does not hold 334 boosters in memory; `keep_all`
    keeps them (a tuning pass replays the same days again). With `matrix` set to a period,
    every model trained for a day of it is scored on every later day of it when it is fitted
    (the model x day AUC matrix of the hindsight ceiling)."""

    def __init__(self, frame: pd.DataFrame, *, spec: RetrainSpec | None = None,
                 params: TrainParams | None = None, gate_config: GateConfig | None = None,
                 keep_all: bool = False):
        self.spec = spec or RetrainSpec.for_source(AVAILABILITY)
        self.keep_all = keep_all                     # never forget a model (experiments)
        self.params = params or TrainParams()
        self.gate_config = gate_config or GateConfig()
        self.frame = frame
        self.by_day = {day: rows.reset_index(drop=True)
                       for day, rows in frame.groupby("ds", sort=True)}
        self._labelled: dict[dt.date, pd.DataFrame] = {}
        self._views: dict[dt.date, Any] = {}
        self._fitted: dict[dt.date, Fitted] = {}
        self.fit_cpu: dict[dt.date, float] = {}      # kept after a model is forgotten
        self.holdout_auc: dict[dt.date, float] = {}
        self.holdout_daily_auc: dict[dt.date, float] = {}
        self._references: dict[dt.date, loop.DriftReference] = {}
        self._scores: dict[tuple[dt.date, dt.date], tuple[float, int, float]] = {}
        self._estimates: dict[tuple[dt.date, dt.date], Estimated] = {}
        self._inputs: dict[tuple[dt.date, dt.date | None], tuple[loop.GateInputs, float]] = {}
        self._gates: dict[tuple[dt.date, dt.date | None, GateConfig], GateRun] = {}
        self._refits: dict[dt.date, loop.RefitScore] = {}
        self.gaps: dict[dt.date, float] = {}        # see `Replay(gap_days=...)`
        self.matrix: tuple[dt.date, dt.date] | None = None
        self.matrix_auc: dict[tuple[dt.date, dt.date], float] = {}
        self.fits = 0
        self.gates = 0

    # data ---------------------------------------------------------------------------------

    def rows(self, day: dt.date) -> pd.DataFrame:
        if day not in self.by_day:
            raise ValueError(f"no features for {day}: the frame covers "
                             f"{min(self.by_day)} .. {max(self.by_day)}")
        return self.by_day[day]

    def labelled(self, day: dt.date) -> pd.DataFrame:
        if day not in self._labelled:
            rows = self.rows(day)
            self._labelled[day] = rows[rows["is_delayed"].notna()].reset_index(drop=True)
        return self._labelled[day]

    def labelled_days(self, days: list[dt.date]) -> pd.DataFrame:
        return pd.concat([self.labelled(d) for d in days if d in self.by_day],
                         ignore_index=True)

    def view(self, day: dt.date):
        """The whylogs profile of the day's feature rows, as `flight_features` stores it."""
        if day not in self._views:
            self._views[day] = profiles.profile_frame(self.rows(day), FEATURE_NAMES)
        return self._views[day]

    # models -------------------------------------------------------------------------------

    def window(self, day: dt.date) -> tuple[list[dt.date], list[dt.date]]:
        return self.spec.split(day)

    def held_out(self, day: dt.date) -> pd.DataFrame:
        return pd.concat([self.labelled(d) for d in self.window(day)[1]], ignore_index=True)

    def fitted(self, day: dt.date) -> Fitted:
        """The candidate trained for `day` (fitted on first request)."""
        if day in self._fitted:
            return self._fitted[day]
        train_days, holdout_days = self.window(day)
        train = pd.concat([self.rows(d) for d in train_days], ignore_index=True)
        fit = loop.fit_candidate(train, self.held_out(day), self.params)
        self.fits += 1
        self.fit_cpu[day], self.holdout_auc[day] = fit.fit_cpu_s, fit.holdout_auc
        self.holdout_daily_auc[day] = fit.holdout_daily_auc
        self._fitted[day] = Fitted(day, fit.model, train_days, holdout_days, fit.holdout_auc,
                                   fit.fit_cpu_s, fit.holdout_daily_auc)
        if self.matrix and self.matrix[0] <= day < self.matrix[1]:
            for later in (d for d in self.by_day if day <= d < self.matrix[1]):
                self.matrix_auc[day, later] = self.auc_on(day, later)[0]
        return self._fitted[day]

    def forget(self, keep: set[dt.date]) -> None:
        """Drop the models, references and gates of every training day not in `keep`."""
        if self.keep_all:
            return
        for day in [d for d in self._fitted if d not in keep]:
            del self._fitted[day]
            self._references.pop(day, None)
        self._gates = {k: v for k, v in self._gates.items() if k[0] in keep}
        self._inputs = {k: v for k, v in self._inputs.items() if k[0] in keep}

    def reference(self, model_day: dt.date) -> loop.DriftReference:
        """Merged profile and calibration of the model's training days (what `candidate_model`
        logs with the model and `feature_drift` reads back)."""
        if model_day not in self._references:
            self._references[model_day] = loop.drift_reference(
                {d: self.view(d) for d in self.fitted(model_day).train_days})
        return self._references[model_day]

    # scores -------------------------------------------------------------------------------

    def auc_on(self, model_day: dt.date, day: dt.date) -> tuple[float, int]:
        """AUC of the model trained for `model_day` on `day`'s labelled flights, and n."""
        key = (model_day, day)
        if key not in self._scores:
            rows = self.labelled(day)
            p = self.fitted(model_day).model.predict_proba(rows)
            auc = evaluation.auc(rows["is_delayed"].astype(bool).to_numpy(), p)
            self._scores[key] = (auc, len(rows), math.nan)
        return self._scores[key][:2]

    def drift_on(self, model_day: dt.date, day: dt.date) -> float:
        """Drift score of `day` against the reference of the model trained for `model_day`."""
        self.auc_on(model_day, day)
        auc, n, drift = self._scores[(model_day, day)]
        if math.isnan(drift):
            drift, _ = loop.drift_score(self.reference(model_day), self.view(day))
            self._scores[(model_day, day)] = (auc, n, drift)
        return drift

    def estimate_on(self, model_day: dt.date, day: dt.date) -> Estimated:
        """CBPE of `day` by the model trained for `model_day`, from its scores on the day's
        flights (every flight, as `daily_predictions` scores them; no labels)."""
        key = (model_day, day)
        if key not in self._estimates:
            model = self.fitted(model_day).model
            estimate, drop = loop.performance_estimate(model, model.predict_proba(self.rows(day)))
            self._estimates[key] = Estimated(estimate.auc, estimate.sd, drop)
        return self._estimates[key]

    def refit_on(self, day: dt.date) -> loop.RefitScore:
        """The cheap refit judging `day`: trained on the labelled days before it, scored on
        its labelled flights (the same for every champion)."""
        if day not in self._refits:
            train = self.labelled_days(loop.refit_days(self.spec, day))
            self._refits[day] = loop.refit_score(train, self.labelled(day))
        return self._refits[day]

    def gate(self, candidate_day: dt.date, champion_day: dt.date | None,
             config: GateConfig | None = None) -> GateRun:
        """`gate.decide` for the candidate trained for `candidate_day` against the champion, on
        the candidate's held-out days, with its CPU (scoring both + the decision). The scores
        are computed once per pair and shared by every gate configuration."""
        config = config or self.gate_config
        key = (candidate_day, champion_day, config)
        if key not in self._gates:
            pair = key[:2]
            if pair not in self._inputs:
                candidate = self.fitted(candidate_day).model
                champion = None if champion_day is None else self.fitted(champion_day).model
                began = time.process_time()
                inputs = loop.gate_inputs(self.held_out(candidate_day), candidate, champion,
                                          self.spec)
                self._inputs[pair] = (inputs, time.process_time() - began)
            inputs, scoring_cpu = self._inputs[pair]
            began = time.process_time()
            decision = loop.gate_candidate(inputs, config)
            self._gates[key] = GateRun(decision, scoring_cpu + time.process_time() - began)
            self.gates += 1
        return self._gates[key]
