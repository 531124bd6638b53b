"""The model store: MLflow tracking and registry behind one typed resource.

Every candidate is an MLflow run (parameters, metrics, the model, its training window, the merged
reference profile, its inputs and the code version) and a version of the registered model
`flight_delay`, registered with all its tags in one call, so no version exists without its
fingerprint; one left incomplete by older code or by hand is completed from its run or retired
(`complete_or_retire`). The aliases `champion` and `previous` mirror the decision log
(`core/serving.py`); they are never the truth (`set_aliases` reconciles them). Models are
loaded only from this registry, as LightGBM text plus a JSON vocabulary, never unpickled from
an arbitrary path.
"""

import contextlib
import io
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd

from ct_assets.core.training import DelayModel, lightgbm

CHAMPION, PREVIOUS = "champion", "previous"
# Tags every usable version carries (set at registration, in the same call).
REQUIRED_TAGS = ("fingerprint", "run_id", "partition")
RECENT_VERSIONS = 20      # the newest versions `complete_or_retire` checks
logging.getLogger("mlflow").setLevel(logging.WARNING)
# MLflow 3 reports usage over the network from a thread of every process unless told not to:
# the loop talks to nothing outside the machine.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")   # in a run's log
BOOSTER_FILE, META_FILE = "model.lgb.txt", "meta.json"   # a version's pyfunc artifacts
# One client per tracking URI and process: opening MLflow's SQLAlchemy store costs ~1.6 s.
_CLIENTS: dict[str, object] = {}
_MODELS: dict[tuple[str, str, str], DelayModel] = {}     # loaded versions, newest last
_EXPERIMENTS: dict[tuple[str, str], str] = {}             # (tracking URI, name): its id


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


def _log_batch(client, run_id: str, *, params: dict | None = None, metrics: dict,
               tags: dict, model_id: str | None = None) -> None:
    """Parameters, metrics (at step 0, now; of the logged model `model_id` too, if given) and
    tags of a run in one write, not one per value."""
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    client.log_batch(run_id,
                     params=[Param(key, str(value)) for key, value in (params or {}).items()],
                     metrics=[Metric(key, float(value), now, 0, model_id=model_id)
                              for key, value in metrics.items()],
                     tags=[RunTag(key, str(value)) for key, value in tags.items()])


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
    booster = lightgbm().Booster(model_str=Path(booster_path).read_text())
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
            if self.tracking_uri not in _CLIENTS:
                _CLIENTS[self.tracking_uri] = mlflow.MlflowClient(self.tracking_uri)
            return _CLIENTS[self.tracking_uri]

    def experiment_id(self) -> str:
        """The experiment's id, created if missing; looked up once per process (a run asks
        for it in each of its steps, for the candidate's run and the links to it)."""
        key = (self.tracking_uri, self.experiment)
        if key not in _EXPERIMENTS:
            _EXPERIMENTS[key] = self._find_or_create_experiment()
        return _EXPERIMENTS[key]

    def _find_or_create_experiment(self) -> str:
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
        """The newest registered version whose tags match, or None (only complete versions
        carry the tags searched for)."""
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
            booster_path = Path(tmp) / BOOSTER_FILE
            booster_path.write_text(model.booster.model_to_string())
            meta_path = Path(tmp) / META_FILE
            meta_path.write_text(json.dumps({"features": model.features, "vocab": model.vocab,
                                             "trained_on": model.trained_on}))
            signature = mlflow.models.infer_signature(
                example[model.features], model.predict_proba(example))
            with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
                client = self.client()
                _log_batch(client, run.info.run_id, params=params, metrics={}, tags=tags)
                for folder, path in artifacts.items():
                    if Path(path).is_dir():
                        mlflow.log_artifacts(str(path), artifact_path=folder)
                    else:
                        mlflow.log_artifact(str(path), artifact_path=folder)
                # A signature, no input example: with one, MLflow loads the logged model back
                # and predicts it to check it serves (a third of the cost of logging it, in
                # every training). The pyfunc loader is the same code for every version, and
                # a test loads and predicts a logged one through `mlflow.pyfunc`.
                info = mlflow.pyfunc.log_model(
                    name="model", python_model=pyfunc_class()(),
                    artifacts={"booster": str(booster_path), "meta": str(meta_path)},
                    signature=signature, pip_requirements=["lightgbm", "pandas", "numpy"])
                # The metrics after the model, as the run's and the logged model's in one
                # write: logged before, `log_model` reads them back metric by metric to copy
                # them to the model (a query per metric, for every training).
                _log_batch(client, run.info.run_id, metrics=metrics, tags={},
                           model_id=info.model_id)
            # One call creates the version with every tag: a crash before it leaves a run and
            # no version (the next run trains again), after it a complete version. (MLflow
            # prints "Created version …" on stderr; the asset's metadata says it.)
            with contextlib.redirect_stderr(io.StringIO()):
                version = mlflow.register_model(
                    info.model_uri, self.model_name,
                    tags={**{k: str(v) for k, v in tags.items()},
                          "run_id": run.info.run_id}).version
            # the version as `load` would read it back (the same two files), for the steps
            # after this one in the run, without downloading it (only a saving: if it fails,
            # `load` downloads it)
            with contextlib.suppress(Exception):
                self._remember(str(version), load_delay_model(booster_path, meta_path))
        return run.info.run_id, str(version)

    def complete_or_retire(self) -> list[str]:
        """Versions missing a required tag are never used: complete each from its training
        run's tags when the run has them all, otherwise delete it. Returns what was done.

        Only the newest `RECENT_VERSIONS` are looked at, not the whole history (one more
        version a day): a version is registered with its tags in one call, so one is left
        incomplete only by a crash inside that call or by hand, and every training looks
        before it registers its own."""
        client = self.client()
        done = []
        with self._guard("check the registered versions"):
            versions = client.search_model_versions(
                f"name = '{self.model_name}'", max_results=RECENT_VERSIONS,
                order_by=["version_number DESC"])
            for mv in versions:
                tags = dict(mv.tags)
                if all(tags.get(t) for t in REQUIRED_TAGS):
                    continue
                run_tags = {}
                if mv.run_id:
                    try:
                        run_tags = {**client.get_run(mv.run_id).data.tags, "run_id": mv.run_id}
                    except Exception:  # noqa: BLE001 - the run is gone: retire the version
                        run_tags = {}
                if all(run_tags.get(t) for t in REQUIRED_TAGS):
                    for key in ("fingerprint", "run_id", "partition", "code_version",
                                "window_start", "window_end", "holdout_start", "holdout_end",
                                "dagster_run_id"):
                        if run_tags.get(key):
                            client.set_model_version_tag(self.model_name, mv.version, key,
                                                         run_tags[key])
                    done.append(f"version {mv.version} completed from run {mv.run_id}")
                else:
                    client.delete_model_version(self.model_name, mv.version)
                    done.append(f"version {mv.version} retired (no fingerprint, no run to "
                                "complete it from)")
        return done

    def log_evaluation(self, run_id: str, *, metrics: dict, tags: dict, folder: str,
                       files: list[Path]) -> None:
        """Add an evaluation (metrics, tags, plots) to a candidate's run."""
        client = self.client()
        with self._guard("log the evaluation"):
            _log_batch(client, run_id, tags=tags,
                       metrics={k: v for k, v in metrics.items() if v is not None})
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

    def set_aliases(self, champion: str | None, previous: str | None) -> list[str]:
        """Point `champion` and `previous` at the given versions (the decision log's); returns
        the aliases that had to move, empty when the registry already mirrored the log."""
        moved = []
        client = self.client()
        with self._guard("move the champion alias"):
            for alias, version in ((CHAMPION, champion), (PREVIOUS, previous)):
                current = self.alias_version(alias)
                if current == version:
                    continue
                if version is None:
                    client.delete_registered_model_alias(self.model_name, alias)
                else:
                    client.set_registered_model_alias(self.model_name, alias, version)
                moved.append(f"{alias}: {current} -> {version}")
        return moved

    def version_exists(self, version: str) -> bool:
        """Whether `version` is a complete registered version (usable as a champion)."""
        client = self.client()
        with self._guard(f"read version {version}"):
            try:
                tags = dict(client.get_model_version(self.model_name, version).tags)
            except Exception as exc:  # noqa: BLE001 - MLflow raises store-specific types
                if "not found" in str(exc).lower() or "RESOURCE_DOES_NOT_EXIST" in str(exc):
                    return False
                raise
        return all(tags.get(t) for t in REQUIRED_TAGS)

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
        """A registered version as a `DelayModel` (loaded once per process: a registered
        version's model never changes)."""
        key = (self.tracking_uri, self.model_name, str(version))
        if key not in _MODELS:
            mlflow = _mlflow()
            self.client()
            # the version's booster and vocabulary (its pyfunc's `artifacts`), read as the
            # pyfunc's `load_context` reads them; without loading the pyfunc, which unpickles
            # its Python class and checks its requirements against the installed packages
            with self._guard(f"load version {version}"), tempfile.TemporaryDirectory() as tmp:
                folder = Path(mlflow.artifacts.download_artifacts(
                    artifact_uri=f"models:/{self.model_name}/{version}/artifacts",
                    dst_path=tmp))
                self._remember(version, load_delay_model(folder / BOOSTER_FILE,
                                                         folder / META_FILE))
        return _MODELS[key]

    def _remember(self, version: str, model: DelayModel) -> None:
        if len(_MODELS) >= 16:
            _MODELS.pop(next(iter(_MODELS)))
        _MODELS[(self.tracking_uri, self.model_name, str(version))] = model


def open_for_forks(tracking_uri: str) -> None:
    """In a process that forks the runs (the run launcher's forkserver, `project_preload.py`):
    open the tracking and registry stores of a SQLite `tracking_uri` once (the engine, the
    schema check, the default experiment: 60 ms of CPU in every run that opened them itself),
    then close every connection of MLflow's engines. Each forked run then uses the open stores
    (MLflow keeps them per URI) with connections of its own: SQLite connections must not cross
    a fork. A tracking server's REST store costs nothing to open: left alone."""
    if not tracking_uri.startswith("sqlite:"):
        return
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore

    client = _mlflow().MlflowClient(tracking_uri)
    try:
        client.search_experiments(max_results=1)
        client.search_registered_models(max_results=1)
    finally:
        for store in (TrackingStore, RegistryStore):
            for engine in list(store._engine_map.values()):
                engine.dispose()


def default_tracking_uri(data_dir: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{data_dir / 'mlflow.db'}"
