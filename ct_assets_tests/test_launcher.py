"""The run launcher's forkserver: what it imports and warms before it forks a run."""

import os
import subprocess
import sys

from ct_assets.launcher import DEFAULT_PRELOAD


def test_the_warm_up_fills_mlflows_caches_and_leaves_a_single_thread_to_fork():
    # What the forkserver does before its first fork: the preloaded modules, warm-up last.
    code = ("import threading\n"
            f"for name in {list(DEFAULT_PRELOAD)!r}: __import__(name)\n"
            "from mlflow.utils import requirements_utils\n"
            "print(threading.active_count(), requirements_utils._MODULES_TO_PACKAGES is not None)")
    # as on a user's machine (MLflow turns its telemetry off by itself in CI and tests)
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_DISABLE_TELEMETRY", "PYTEST_CURRENT_TEST", "CI")}
    env["WHYLOGS_NO_ANALYTICS"] = "True"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["1", "True"], result.stderr[-2000:]
    assert DEFAULT_PRELOAD[-1] == "ct_assets.warmup"
