"""First calls paid once: imported by the run launcher's forkserver (`launcher.DEFAULT_PRELOAD`)
after the heavy libraries, before it forks any run.

Some costs of a library come on its first call in a process, not at import, and every run is a
new process. Measured in a run of the retrain chain, each paid again by every run:
- `mlflow.pyfunc.log_model` checks the model's pip requirements against the installed
  packages, which first maps every installed distribution to its modules (0.5-0.8 s), then
  reads each required package's version from its metadata, scanning the installed
  distributions again (25 ms of every training): the packages are the server's, so the
  versions are kept for its life too (`_get_installed_version` cached);
- MLflow's SQL store checks the database's schema revision against the newest of Alembic's
  migration scripts, which Alembic loads from disk on every check (15-25 ms of every run that
  opens the store): they are the installed package's, so the answer is kept for the server's
  life (`_get_latest_schema_revision` cached).

This module does each once on throwaway state (a temporary directory, an SQLite file in it),
so the forked runs inherit the warm caches. It touches no project code (the project is
preloaded after it, apart: `project_preload.py`) and leaves no thread behind (the forkserver
must fork a single-threaded process): MLflow's telemetry stays off, as it is in every run
(`registry.py`).
"""

import functools
import logging
import os
import tempfile


def _warm_mlflow() -> None:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")   # a thread, and the network
    import mlflow
    import mlflow.pyfunc
    from mlflow.store.db import utils as db_utils
    from mlflow.utils import requirements_utils

    for module, name in ((db_utils, "_get_latest_schema_revision"),
                         (requirements_utils, "_get_installed_version")):
        if not hasattr(getattr(module, name), "cache_info"):
            setattr(module, name, functools.cache(getattr(module, name)))

    class _Identity(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input

    quiet = logging.getLogger("mlflow")
    level = quiet.level
    quiet.setLevel(logging.ERROR)                        # its notes are about this dummy
    try:
        with tempfile.TemporaryDirectory(prefix="ct-warmup-") as tmp:
            mlflow.pyfunc.save_model(os.path.join(tmp, "model"), python_model=_Identity(),
                                     pip_requirements=["lightgbm", "pandas", "numpy"])
            client = mlflow.MlflowClient(f"sqlite:///{tmp}/mlflow.db")
            client.search_experiments()
            client.search_model_versions("name = 'warmup'")
    finally:
        quiet.setLevel(level)


try:
    _warm_mlflow()
except Exception:  # noqa: BLE001 - only an optimization: a run pays these costs itself
    pass
