"""The runs' captured stdout and stderr (the UI's "stdout" and "stderr" of a step), copied to
the terminal by a thread of the run instead of by four processes.

Dagster's `LocalComputeLogManager` points the run's stdout and stderr at files and, so that
the output still reaches the terminal, starts for each of the two a `tail -F` of its file and
a Python interpreter that watches the `tail` for orphaning: four processes for every run, two
of them interpreters (about 0.04 s of CPU a run, and two forks of a process that holds the
run's memory). This manager points the descriptors at the same files, as Dagster's does (same
paths, the same completion marker; the UI and `get_log_data` read them as before; a run killed
outright has written everything it printed), and a thread of the run follows each file from
where the capture began and copies what is appended to the stream's original descriptor. A
terminal that stops reading holds up that thread only, never the run; a child process that
outlives the capture keeps writing to the file; a killed run takes the thread with it: there
is no process to orphan.

Installed by the project's instance class (`ct_assets/storage.py`), as its default
`compute_logs`.
"""

import contextlib
import os
import sys
import threading
from collections.abc import Generator, Sequence

from dagster._core.storage.compute_log_manager import CapturedLogContext, ComputeIOType
from dagster._core.storage.local_compute_log_manager import (
    IO_TYPE_EXTENSION,
    LocalComputeLogManager,
)
from dagster._utils import ensure_file, touch_file

FOLLOW_EVERY_S = 0.1     # how often a follower looks for new output (`tail -F`: 1 s)
DRAIN_TIMEOUT_S = 5.0    # at the end of a capture, for a terminal slow to take the rest


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def _follow(source: int, terminal_fd: int, stop: threading.Event) -> None:
    """Copy what is appended to the file behind `source` to `terminal_fd` until `stop` is set
    and everything written before it is copied (a terminal that went away is skipped)."""
    terminal_ok = True
    try:
        while True:
            stopping = stop.is_set()
            chunk = os.read(source, 1 << 16)
            if chunk:
                if terminal_ok:
                    try:
                        _write_all(terminal_fd, chunk)
                    except OSError:
                        terminal_ok = False
            elif stopping:
                return
            else:
                stop.wait(FOLLOW_EVERY_S)
    finally:
        os.close(source)
        os.close(terminal_fd)


def _fileno(stream) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):   # replaced by a non-file (pytest's capture)
        return None


@contextlib.contextmanager
def tee_stream_to_file(stream, path: str) -> Generator[None, None, None]:
    """Everything written to `stream`'s descriptor (by Python, by C libraries, by child
    processes) goes to `path` and, as before, to where the descriptor pointed."""
    fd = _fileno(stream)
    ensure_file(path)
    if fd is None:
        yield
        return
    stream.flush()
    source = os.open(path, os.O_RDONLY)
    os.lseek(source, 0, os.SEEK_END)           # this capture's output, not an earlier one's
    original = os.dup(fd)
    stop = threading.Event()
    follower = threading.Thread(target=_follow, args=(source, os.dup(original), stop),
                                daemon=True, name="ct-compute-log-follower")
    target = os.open(path, os.O_WRONLY | os.O_APPEND)
    os.dup2(target, fd)
    os.close(target)
    follower.start()
    try:
        yield
    finally:
        with contextlib.suppress(ValueError, OSError):
            stream.flush()
        os.dup2(original, fd)
        os.close(original)
        stop.set()                              # the follower copies the rest, then ends
        follower.join(DRAIN_TIMEOUT_S)


class TeeComputeLogManager(LocalComputeLogManager):
    """`LocalComputeLogManager` whose capture tees through a thread (see the module)."""

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> "TeeComputeLogManager":
        return cls(inst_data=inst_data, **config_value)

    @contextlib.contextmanager
    def capture_logs(self, log_key: Sequence[str]) -> Generator[CapturedLogContext, None, None]:
        outpath = self.get_captured_local_path(log_key, IO_TYPE_EXTENSION[ComputeIOType.STDOUT])
        errpath = self.get_captured_local_path(log_key, IO_TYPE_EXTENSION[ComputeIOType.STDERR])
        with tee_stream_to_file(sys.stdout, outpath), tee_stream_to_file(sys.stderr, errpath):
            yield CapturedLogContext(log_key)
        touch_file(self.complete_artifact_path(log_key))   # the capture is complete
