"""The model store: MLflow tracking and registry behind one typed resource.

Every candidate is an MLflow run (parameters, metrics, the model, its training window, the merged
reference profile, its inputs and the code version) and a version of the registered model
`flight_delay`. The alias `champion` marks the serving version and `previous` the one it
replaced. Models are loaded only from this registry, as LightGBM text plus a JSON vocabulary,
never unpickled from an arbitrary path.
"""

import contextlib
import json
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import lightgbm as lgb
import pandas as pd

from ct_assets.core.training import DelayModel

CHAMPION, PREVIOUS = "champion", "previous"
logging.getLogger("mlflow").setLevel(logging.WARNING)


class RegistryUnavailable(RuntimeError):
    """The MLflow store cannot be reached or written: nothing was registered or promoted."""


def _root_cause(exc: BaseException) -> str:
    """The driver's own words ("attempt to write a readonly database"), not the wrapper's."""
    found = re.search(r"\((?:\w+\.)*\w+Error\) ([^\n\[]+)", str(exc))
    if found:
        return found.group(1).strip()
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _mlflow():
    import mlflow  # deferred: importing mlflow costs a couple of seconds per process

    return mlflow


def code_version() -> str:
    """The git commit of the running code, with `+dirty` if the work tree has changes."""
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=10).stdout
        return sha + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def pyfunc_class():
    """The MLflow pyfunc flavour of a `DelayModel`: loads the booster and vocabulary artifacts
    and returns delay probabilities. Built on first use so importing this module stays cheap."""
    mlflow = _mlflow()

    class _DelayModelPyfunc(mlflow.pyfunc.PythonModel):
        def load_context(self, context):
            self.model = load_delay_model(Path(context.artifacts["booster"]),
                                          Path(context.artifacts["meta"]))

        def predict(self, context, model_input: pd.DataFrame, params=None):
            return self.model.predict_proba(model_input)

    return _DelayModelPyfunc


def load_delay_model(booster_path: Path, meta_path: Path) -> DelayModel:
    meta = json.loads(Path(meta_path).read_text())
    booster = lgb.Booster(model_str=Path(booster_path).read_text())
    return DelayModel(booster=booster, features=meta["features"], vocab=meta["vocab"],
                      trained_on=meta.get("trained_on", {}))


class ModelRegistryResource(dg.ConfigurableResource):
    """MLflow tracking store and model registry (default: SQLite under `CT_DATA_DIR`)."""

    tracking_uri: str
    artifact_root: str
    experiment: str = "ct_assets"
    model_name: str = "flight_delay"
    ui_url: str = "http://127.0.0.1:5000"

    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except RegistryUnavailable:
            raise
        except Exception as exc:  # MLflow raises many store-specific types
            raise RegistryUnavailable(
                f"MLflow store {self.tracking_uri} unavailable while trying to {action}: "
                f"{_root_cause(exc)}. Nothing was registered and the champion is unchanged."
            ) from exc

    def client(self):
        mlflow = _mlflow()
        with self._guard("connect"):
            mlflow.set_tracking_uri(self.tracking_uri)
            return mlflow.MlflowClient(self.tracking_uri)

    def experiment_id(self) -> str:
        client = self.client()
        with self._guard("open the experiment"):
            found = client.get_experiment_by_name(self.experiment)
            if found is not None:
                return found.experiment_id
            if not self.artifact_root:      # a tracking server that serves the artifacts
                return client.create_experiment(self.experiment)
            Path(self.artifact_root).mkdir(parents=True, exist_ok=True)
            return client.create_experiment(self.experiment,
                                            artifact_location=Path(self.artifact_root).as_uri())

    def run_url(self, run_id: str) -> str:
        return f"{self.ui_url}/#/experiments/{self.experiment_id()}/runs/{run_id}"

    def find_version(self, **tags: str):
        """The newest registered version whose tags match, or None."""
        for key, value in tags.items():
            if not re.fullmatch(r"[\w.:-]+", f"{key}{value}"):
                raise ValueError(f"tag filter {key}={value!r} is not a plain token")
        client = self.client()
        with self._guard("search model versions"):
            query = " and ".join([f"name = '{self.model_name}'"]
                                 + [f"tags.{k} = '{v}'" for k, v in tags.items()])
            found = client.search_model_versions(query)
        return max(found, key=lambda v: int(v.version)) if found else None

    def log_candidate(self, model: DelayModel, *, run_name: str, params: dict,
                      metrics: dict, tags: dict, example: pd.DataFrame,
                      artifacts: dict[str, Path]) -> tuple[str, str]:
        """Log one training run and register its model. Returns (run_id, version)."""
        mlflow = _mlflow()
        experiment_id = self.experiment_id()
        with self._guard("log the candidate"), tempfile.TemporaryDirectory() as tmp:
            booster_path = Path(tmp) / "model.lgb.txt"
            booster_path.write_text(model.booster.model_to_string())
            meta_path = Path(tmp) / "meta.json"
            meta_path.write_text(json.dumps({"features": model.features, "vocab": model.vocab,
                                             "trained_on": model.trained_on}))
            signature = mlflow.models.infer_signature(
                example[model.features], model.predict_proba(example))
            with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
                mlflow.log_params(params)
                mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
                mlflow.set_tags(tags)
                for folder, path in artifacts.items():
                    if Path(path).is_dir():
                        mlflow.log_artifacts(str(path), artifact_path=folder)
                    else:
                        mlflow.log_artifact(str(path), artifact_path=folder)
                info = mlflow.pyfunc.log_model(
                    name="model", python_model=pyfunc_class()(),
                    artifacts={"booster": str(booster_path), "meta": str(meta_path)},
                    signature=signature, input_example=example[model.features].head(3),
                    registered_model_name=self.model_name,
                    pip_requirements=["lightgbm", "pandas", "numpy"])
            version = str(info.registered_model_version)
            client = self.client()
            for key, value in tags.items():
                client.set_model_version_tag(self.model_name, version, key, value)
            client.set_model_version_tag(self.model_name, version, "run_id", run.info.run_id)
        return run.info.run_id, version

    def log_evaluation(self, run_id: str, *, metrics: dict, tags: dict, folder: str,
                       files: list[Path]) -> None:
        """Add an evaluation (metrics, tags, plots) to a candidate's run."""
        client = self.client()
        with self._guard("log the evaluation"):
            for key, value in metrics.items():
                if value is not None:
                    client.log_metric(run_id, key, float(value))
            for key, value in tags.items():
                client.set_tag(run_id, key, value)
            for path in files:
                client.log_artifact(run_id, str(path), artifact_path=folder)

    def alias_version(self, alias: str = CHAMPION) -> str | None:
        client = self.client()
        with self._guard(f"read the alias {alias}"):
            try:
                return str(client.get_model_version_by_alias(self.model_name, alias).version)
            except Exception as exc:  # no such alias or no such model yet
                if "not found" in str(exc).lower() or "RESOURCE_DOES_NOT_EXIST" in str(exc) \
                        or "does not exist" in str(exc).lower():
                    return None
                raise

    def promote(self, version: str, *, forced: bool, reason: str, partition: str) -> str | None:
        """Point `champion` at `version`; the replaced champion becomes `previous`."""
        client = self.client()
        current = self.alias_version(CHAMPION)
        with self._guard("move the champion alias"):
            if current == version:
                return current
            if current is not None:
                client.set_registered_model_alias(self.model_name, PREVIOUS, current)
            client.set_registered_model_alias(self.model_name, CHAMPION, version)
            client.set_model_version_tag(self.model_name, version, "promoted_for", partition)
            client.set_model_version_tag(self.model_name, version, "promotion_forced",
                                         str(forced).lower())
            client.set_model_version_tag(self.model_name, version, "promotion_reason",
                                         reason[:500])
        return current

    def rollback(self) -> tuple[str, str]:
        """Move `champion` back to `previous` (and `previous` to the one rolled back)."""
        current, previous = self.alias_version(CHAMPION), self.alias_version(PREVIOUS)
        if previous is None:
            raise RegistryUnavailable("no previous champion to roll back to")
        client = self.client()
        with self._guard("roll back the champion"):
            client.set_registered_model_alias(self.model_name, CHAMPION, previous)
            client.set_registered_model_alias(self.model_name, PREVIOUS, current)
        return current, previous

    def promised_auc(self, version: str) -> float | None:
        """The AUC a version promised for one served day: the mean of its per-day AUCs on its
        held-out days (its training run's `holdout_daily_auc`; `holdout_auc`, pooled over the
        held-out days, for versions logged before that metric existed)."""
        client = self.client()
        with self._guard(f"read version {version}"):
            run_id = client.get_model_version(self.model_name, version).tags.get("run_id")
            if not run_id:
                return None
            metrics = client.get_run(run_id).data.metrics
            return metrics.get("holdout_daily_auc", metrics.get("holdout_auc"))

    def download(self, version: str, folder: str, destination: Path) -> Path | None:
        """Download a folder of a version's training run (None if the run has no such folder)."""
        client = self.client()
        with self._guard(f"download {folder} of version {version}"):
            run_id = client.get_model_version(self.model_name, version).tags.get("run_id")
            if not run_id or not [a for a in client.list_artifacts(run_id) if a.path == folder]:
                return None
            destination.mkdir(parents=True, exist_ok=True)
            return Path(client.download_artifacts(run_id, folder, str(destination)))

    def load(self, version: str) -> DelayModel:
        """A registered version as a `DelayModel`."""
        mlflow = _mlflow()
        self.client()
        with self._guard(f"load version {version}"):
            model = mlflow.pyfunc.load_model(f"models:/{self.model_name}/{version}")
        return model.unwrap_python_model().model


def default_tracking_uri(data_dir: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{data_dir / 'mlflow.db'}"
