"""The run launcher's forkserver: what it imports and warms before it forks a run, and a run
that sees the project as it is when it starts."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ct_assets.launcher import DEFAULT_PRELOAD


def test_the_warm_up_fills_mlflows_caches_and_leaves_a_single_thread_to_fork():
    # What the forkserver does before its first fork: the preloaded modules, warm-up last.
    code = ("import gc, threading\n"
            f"for name in {list(DEFAULT_PRELOAD)!r}: __import__(name)\n"
            "from mlflow.utils import requirements_utils\n"
            "from mlflow.store.db import utils as db_utils\n"
            "print(threading.active_count(), requirements_utils._MODULES_TO_PACKAGES is not None,"
            " gc.get_freeze_count() > 100_000,"
            " db_utils._get_latest_schema_revision.cache_info().currsize == 1,"
            # the versions of the model's required packages (and MLflow's), read once
            " requirements_utils._get_installed_version.cache_info().currsize == 4)\n"
            # a run opening an MLflow store (its schema checked against the newest migration)
            # reads none of MLflow's migration scripts: the server knows the newest
            "import shutil, sys, tempfile, mlflow\n"
            "from alembic.script import ScriptDirectory\n"
            "tmp = tempfile.mkdtemp()\n"
            "mlflow.MlflowClient(f'sqlite:///{tmp}/a.db').search_experiments()\n"
            "shutil.copyfile(f'{tmp}/a.db', f'{tmp}/b.db')\n"
            "def no_scripts(*a, **k): raise AssertionError('migration scripts read')\n"
            "ScriptDirectory.from_config = no_scripts\n"
            "print(len(mlflow.MlflowClient(f'sqlite:///{tmp}/b.db').search_experiments()))\n"
            # what the instance's storage loads lazily is loaded already
            "print('upath.core' in sys.modules, 'ct_assets.storage' in sys.modules)")
    # as on a user's machine (MLflow turns its telemetry off by itself in CI and tests)
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_DISABLE_TELEMETRY", "PYTEST_CURRENT_TEST", "CI")}
    env["WHYLOGS_NO_ANALYTICS"] = "True"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    # one thread to fork; the imported objects frozen out of the runs' collections
    assert result.stdout.split() == ["1", "True", "True", "True", "True", "1", "True",
                                    "True"], \
        result.stderr[-2000:]
    assert DEFAULT_PRELOAD[-2:] == ("ct_assets.warmup", "ct_assets.project_preload")


def test_the_forkserver_opens_the_projects_mlflow_store_and_hands_runs_no_connection(tmp_path):
    # The preload opens the project's store (its engine in MLflow's cache) and closes its
    # connections; a forked run writes through the open store with a connection of its own.
    code = ("import os\n"
            f"for name in {list(DEFAULT_PRELOAD)!r}: __import__(name)\n"
            "from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore\n"
            "uri = os.environ['MLFLOW_TRACKING_URI']\n"
            "engine = SqlAlchemyStore._engine_map[uri]\n"
            "print(engine.pool.checkedin(), engine.pool.checkedout())\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    import mlflow\n"
            "    client = mlflow.MlflowClient(uri)\n"
            "    found = client.get_experiment(client.create_experiment('from a run')).name\n"
            "    os._exit(0 if found == 'from a run' else 1)\n"
            "print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n"
            "import mlflow\n"
            "print(mlflow.MlflowClient(uri).get_experiment_by_name('from a run') is not None)\n")
    env = {**os.environ, "WHYLOGS_NO_ANALYTICS": "True", "CT_DATA_DIR": str(tmp_path),
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["0", "0", "0", "True"], result.stderr[-2000:]


# A forkserver (this script's process) that preloaded a copy of the project, and runs forked
# from it before and after a definition is edited.
_SERVER = """
import os, sys
import ct_assets.launcher  # loaded before the preload, as in the daemon
import ct_assets.project_preload as preload
import ct_assets.definitions as loaded


def run_sees(edited):
    read, write = os.pipe()
    if os.fork() == 0:
        dropped = preload.drop_if_stale()
        import ct_assets.definitions as now
        from ct_assets.defs.train import champion
        os.write(write, f"{dropped} {now is loaded} {hasattr(champion, 'EDITED')}".encode())
        os._exit(0)
    os.wait()
    return os.read(read, 100).decode()


assert preload.__file__.startswith(sys.argv[1]), preload.__file__   # the copy, never ours
print(preload.SNAPSHOT is not None, run_sees(False))
path = os.path.join(os.path.dirname(preload.__file__), "defs", "train", "champion.py")
with open(path, "a") as handle:
    handle.write("\\nEDITED = True\\n")
print(run_sees(True))
"""


def test_a_run_forked_from_the_preloaded_project_sees_an_edit_made_after_the_preload(tmp_path):
    shutil.copytree(Path(__file__).resolve().parents[1] / "ct_assets", tmp_path / "ct_assets",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "CT_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run([sys.executable, "-c", _SERVER, str(tmp_path)], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    before, after = result.stdout.splitlines()
    # unchanged: the run keeps the server's modules; edited: it imports the project again
    assert before == "True False True False", result.stdout
    assert after == "True False True", result.stdout
