"""The runs' captured stdout and stderr (`ct_assets/compute_logs.py`): the files the UI reads,
the output still on the terminal, no process started for it, nothing lost by a killed run and
no wait for a child that outlives the capture."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg

from ct_assets.compute_logs import TeeComputeLogManager

PROJECT_YAML = Path(__file__).resolve().parents[1] / "ct_assets" / "dagster.yaml"


# A run's process in miniature, its stdout and stderr pointed at files standing for the
# terminal (a process of its own: pytest's capture owns this one's descriptors).
_RUN = """
import json, os, subprocess, sys
import psutil
from ct_assets.compute_logs import TeeComputeLogManager

manager = TeeComputeLogManager(sys.argv[1])
key = ["run", "compute_logs", "step"]
with manager.capture_logs(key):
    print("from python")
    os.write(1, b"from C, on the descriptor\\n")
    subprocess.run(["sh", "-c", "echo from a child process; echo to stderr >&2"], check=True)
    print("a warning", file=sys.stderr)
    helpers = [p.name() for p in psutil.Process().children()]
print("after the capture")
data = manager.get_log_data(key)
json.dump({"helpers": helpers, "complete": manager.is_capture_complete(key),
           "stdout": data.stdout.decode(), "stderr": data.stderr.decode()},
          open(sys.argv[2], "w"))
"""


def test_a_capture_writes_the_files_the_ui_reads_and_still_the_terminal(tmp_path):
    out, err = tmp_path / "terminal.out", tmp_path / "terminal.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        subprocess.run([sys.executable, "-c", _RUN, str(tmp_path / "logs"),
                        str(tmp_path / "result.json")], stdout=stdout, stderr=stderr,
                       check=True, timeout=120)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["helpers"] == []           # Dagster's starts four (tail, and a watcher each)
    assert result["complete"]
    assert result["stdout"] == ("from python\nfrom C, on the descriptor\n"
                                "from a child process\n")
    assert result["stderr"] == "to stderr\na warning\n"
    # the terminal got the same, and what came after the capture (only there)
    assert out.read_text() == result["stdout"] + "after the capture\n"
    assert err.read_text() == result["stderr"]


def test_the_project_instance_captures_with_it_in_dagsters_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    shutil.copyfile(PROJECT_YAML, tmp_path / "dagster.yaml")
    with dg.DagsterInstance.get() as instance:
        manager = instance.compute_log_manager
        assert type(manager) is TeeComputeLogManager
        # where Dagster's own manager keeps them, so the UI finds older runs' logs too
        assert manager.get_captured_local_path(["r", "compute_logs", "s"], "out").startswith(
            str(tmp_path / "storage"))


_KILLED = """
import os, signal, sys
from ct_assets.compute_logs import TeeComputeLogManager

with TeeComputeLogManager(sys.argv[1]).capture_logs(["run", "compute_logs", "step"]):
    print("the last words before the kill", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_run_has_written_everything_it_printed(tmp_path):
    result = subprocess.run([sys.executable, "-c", _KILLED, str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == -9, result.stderr[-2000:]
    manager = TeeComputeLogManager(str(tmp_path))
    key = ["run", "compute_logs", "step"]
    assert manager.get_log_data(key).stdout.decode() == "the last words before the kill\n"
    assert not manager.is_capture_complete(key)


_LINGERING = """
import subprocess, sys, time
from ct_assets.compute_logs import TeeComputeLogManager

manager = TeeComputeLogManager(sys.argv[1])
with manager.capture_logs(["run", "compute_logs", "step"]):
    child = subprocess.Popen(["sh", "-c", "sleep 2; echo written after the capture"])
    began = time.monotonic()
print(round(time.monotonic() - began, 2))
child.wait()
"""


def test_a_child_that_outlives_the_capture_does_not_hold_it_up(tmp_path):
    result = subprocess.run([sys.executable, "-c", _LINGERING, str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert float(result.stdout.splitlines()[0]) < 1.0      # not the 2 s the child lives
    log = TeeComputeLogManager(str(tmp_path)).get_log_data(["run", "compute_logs", "step"])
    assert log.stdout.decode() == "written after the capture\n"   # its output stays the step's
