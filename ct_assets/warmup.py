"""First calls paid once: imported by the run launcher's forkserver (`launcher.DEFAULT_PRELOAD`)
after the heavy libraries, before it forks any run.

Some costs of a library come on its first call in a process, not at import, and every run is a
new process. Measured in a run of the retrain chain, each paid again by every run:
- `mlflow.pyfunc.log_model` checks the model's pip requirements against the installed
  packages, which first maps every installed distribution to its modules (0.5-0.8 s);
- MLflow's SQL store checks the database's schema revision against the newest of Alembic's
  migration scripts, which Alembic loads from disk on every check (15-25 ms of every run that
  opens the store): they are the installed package's, so the answer is kept for the server's
  life (`_get_latest_schema_revision` cached);
- Matplotlib's first PNG of a process loads the font, its Agg text engine and Pillow's image
  plugins (0.08 s of the evaluation's two plots).

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

    if not hasattr(db_utils._get_latest_schema_revision, "cache_info"):
        db_utils._get_latest_schema_revision = functools.cache(
            db_utils._get_latest_schema_revision)

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


def _warm_matplotlib() -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1], marker="o", label="warm-up")
    ax.set(xlabel="x", ylabel="y", title="warm-up")
    ax.legend(fontsize=8)
    fig.savefig(io.BytesIO(), format="png", dpi=30)
    plt.close(fig)


for _warm in (_warm_mlflow, _warm_matplotlib):
    try:
        _warm()
    except Exception:  # noqa: BLE001 - only an optimization: a run pays these costs itself
        pass
