"""The runs' captured stdout and stderr (the UI's "stdout" and "stderr" of a step), copied to
the terminal by a thread of the run instead of by four processes.

Dagster's `LocalComputeLogManager` points the run's stdout and stderr at files and, so that
the output still reaches the terminal, starts for each of the two a `tail -F` of its file and
a Python interpreter that watches the `tail` for orphaning: four processes for every run, two
of them interpreters (about 0.04 s of CPU a run, and two forks of a process that holds the
run's memory). This manager writes the same files (same paths, the same completion marker; the
UI and `get_log_data` read them as before): each stream's descriptor is pointed at a pipe, and
a thread writes what comes out of it to the file and to the stream's original descriptor. A
killed run takes the thread with it: there is no process to orphan.

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

DRAIN_TIMEOUT_S = 5.0    # at the end of a capture, for a forked child that still holds a pipe


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def _copy(source: int, file_fd: int, terminal_fd: int) -> None:
    """Until every writer of the pipe has closed it: each chunk to the file, then the terminal
    (a terminal that went away is skipped, the file still gets everything)."""
    try:
        while chunk := os.read(source, 1 << 16):
            _write_all(file_fd, chunk)
            with contextlib.suppress(OSError):
                _write_all(terminal_fd, chunk)
    finally:
        for fd in (source, file_fd, terminal_fd):
            os.close(fd)


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
    read_end, write_end = os.pipe()
    original = os.dup(fd)
    copier = threading.Thread(
        target=_copy, daemon=True, name="ct-compute-log-tee",
        args=(read_end, os.open(path, os.O_WRONLY | os.O_APPEND), os.dup(original)))
    copier.start()
    os.dup2(write_end, fd)
    os.close(write_end)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError, OSError):
            stream.flush()
        os.dup2(original, fd)          # the pipe's last writer gone: the copier drains, ends
        os.close(original)
        copier.join(DRAIN_TIMEOUT_S)


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
