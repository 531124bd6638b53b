"""Training: a LightGBM classifier on the feature table, deterministic for the same inputs.

The model object (`DelayModel`) carries its feature list and the category vocabulary it was
trained with, so scoring a frame from the offline store, an online request or a registry load
gives the same encoding. No MLflow and no Dagster in here.
"""

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ct_assets.core.features import CATEGORICAL, FEATURE_NAMES

if TYPE_CHECKING:
    import lightgbm as lgb

LABEL = "is_delayed"


def lightgbm():
    """LightGBM, imported on first use: with scikit-learn and SciPy behind it, it takes about
    two seconds to import, which every process loading the Dagster definitions would pay."""
    import lightgbm as lgb

    return lgb


@dataclass(frozen=True)
class TrainParams:
    """LightGBM hyperparameters; the seed and single thread make training reproducible."""

    num_leaves: int = 31
    learning_rate: float = 0.05
    n_estimators: int = 300
    min_child_samples: int = 50
    colsample_bytree: float = 0.8
    reg_lambda: float = 1.0
    seed: int = 13

    def lightgbm(self) -> dict:
        return {**{k: v for k, v in asdict(self).items() if k != "seed"},
                "random_state": self.seed, "deterministic": True, "force_col_wise": True,
                "n_jobs": 1, "verbose": -1}


@dataclass
class DelayModel:
    """A trained classifier with everything needed to encode its inputs."""

    booster: "lgb.Booster"
    features: list[str]
    vocab: dict[str, list[str]]
    trained_on: dict = field(default_factory=dict)

    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        return encode(frame, self.features, self.vocab)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability that each flight arrives more than 15 minutes late."""
        return self.booster.predict(self.encode(frame))


def encode(frame: pd.DataFrame, features: list[str], vocab: dict[str, list[str]]) -> pd.DataFrame:
    """Model input: categories from the training vocabulary (unseen -> missing), floats."""
    missing = [c for c in features if c not in frame]
    if missing:
        raise ValueError(f"feature frame lacks columns {missing}")
    X = frame[features].copy()
    for col in features:
        if col in vocab:
            X[col] = pd.Categorical(X[col].astype("string"), categories=vocab[col])
        else:
            X[col] = pd.to_numeric(X[col], errors="coerce").astype("float64")
    return X


def window_split(days: list[dt.date], holdout_days: int) -> tuple[list[dt.date], list[dt.date]]:
    """Training days and the held-out block of the most recent days (kept for the gate)."""
    if holdout_days < 1 or len(days) <= holdout_days:
        raise ValueError(f"a window of {len(days)} days cannot hold out {holdout_days}")
    return days[:-holdout_days], days[-holdout_days:]


def fit(frame: pd.DataFrame, params: TrainParams = TrainParams()) -> DelayModel:
    """Train on the labelled rows of `frame` (features plus `is_delayed`)."""
    labelled = frame[frame[LABEL].notna()]
    if labelled.empty or labelled[LABEL].nunique() < 2:
        raise ValueError("training needs labelled flights of both classes")
    vocab = {c: sorted(labelled[c].dropna().astype(str).unique().tolist()) for c in CATEGORICAL}
    features = list(FEATURE_NAMES)
    y = labelled[LABEL].astype(int).to_numpy()
    classifier = lightgbm().LGBMClassifier(**params.lightgbm())
    classifier.fit(encode(labelled, features, vocab), y, categorical_feature=list(vocab))
    return DelayModel(booster=classifier.booster_, features=features, vocab=vocab,
                      trained_on={"rows": int(len(y)), "positive_share": float(y.mean())})
