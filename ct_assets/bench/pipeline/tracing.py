"""Tracing calls into `ct_assets/core/` (and, apart, `ct_assets/registry.py`) inside the step
processes: each outermost call's wall-clock interval and CPU time, appended to a file per
process in the folder `CT_BENCH_TRACE_DIR` names."""

import contextlib
import functools
import importlib
import inspect
import os
import sys
import threading
import time
from pathlib import Path

TRACE_ENV = "CT_BENCH_TRACE_DIR"
INSTRUMENTATION = "instrumentation"   # trace category of the tracer's own installation

_TRACE = threading.local()
_TRACE_FILE: dict[int, object] = {}
_TRACE_INSTALLED = False


def _trace_write(category: str, name: str, began: float, ended: float, cpu: float) -> None:
    pid = os.getpid()
    handle = _TRACE_FILE.get(pid)
    if handle is None:
        # Kept open for the life of the step process; line-buffered, so nothing is lost at exit.
        handle = open(Path(os.environ[TRACE_ENV]) / f"{pid}.tsv", "a", buffering=1)
        _TRACE_FILE.clear()
        _TRACE_FILE[pid] = handle
    handle.write(f"{category}\t{name}\t{began:.6f}\t{ended:.6f}\t{cpu:.6f}\n")


@contextlib.contextmanager
def _outermost(category: str, name: str):
    """Time the block (wall clock, and CPU time of the process) if no other traced call is
    already running in this thread."""
    depth = getattr(_TRACE, "depth", 0)
    _TRACE.depth = depth + 1
    began, cpu = time.time(), time.process_time()
    try:
        yield
    finally:
        _TRACE.depth = depth
        if depth == 0:
            _trace_write(category, name, began, time.time(), time.process_time() - cpu)


class _TimedContext:
    """A context manager whose enter and exit are timed (the block in between is the
    caller's time, not the function's)."""

    def __init__(self, inner, category: str, name: str):
        self._inner, self._category, self._name = inner, category, name

    def __enter__(self):
        with _outermost(self._category, self._name):
            return self._inner.__enter__()

    def __exit__(self, *exc):
        with _outermost(self._category, self._name):
            return self._inner.__exit__(*exc)


def _timed(fn, category: str, name: str):
    original = getattr(fn, "__wrapped__", None)
    is_context = original is not None and inspect.isgeneratorfunction(original)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if is_context:
            return _TimedContext(fn(*args, **kwargs), category, name)
        with _outermost(category, name):
            return fn(*args, **kwargs)

    wrapper.__ct_bench_original__ = fn
    return wrapper


def install_tracing() -> int:
    """Wrap every function and method defined in `ct_assets/core/` (category core) and in
    `ct_assets/registry.py` (category registry), and rebind names other `ct_assets` modules
    imported from them. Returns how many callables are traced."""
    global _TRACE_INSTALLED
    if _TRACE_INSTALLED:
        return 0
    # the project, imported as every run imports it: the run's cost, not the tracer's
    import ct_assets.definitions  # noqa: F401  (every module that may hold a direct import)

    # wrapping it is the bench's own cost, recorded so that the analysis leaves it out
    with _outermost(INSTRUMENTATION, "tracing.install_tracing"):
        return _install()


def _install() -> int:
    global _TRACE_INSTALLED
    import pkgutil

    import ct_assets.core

    targets = {importlib.import_module(f"ct_assets.core.{m.name}"): "core"
               for m in pkgutil.iter_modules(ct_assets.core.__path__)}
    targets[importlib.import_module("ct_assets.registry")] = "registry"
    wrapped = {}
    for module, category in targets.items():
        for attr, obj in list(vars(module).items()):
            if getattr(obj, "__module__", None) != module.__name__:
                continue
            short = module.__name__.rsplit(".", 1)[-1]
            if inspect.isfunction(obj):
                wrapped[id(obj)] = _timed(obj, category, f"{short}.{attr}")
                setattr(module, attr, wrapped[id(obj)])
            elif inspect.isclass(obj):
                for name, method in list(vars(obj).items()):
                    if inspect.isfunction(method) and not name.startswith("__"):
                        with contextlib.suppress(AttributeError, TypeError, ValueError):
                            setattr(obj, name, _timed(method, category,
                                                      f"{short}.{attr}.{name}"))
    for name, module in list(sys.modules.items()):
        if (not name.startswith("ct_assets.") or module in targets
                or name.startswith(__package__)):
            continue
        for attr, obj in list(vars(module).items()):
            if id(obj) in wrapped and getattr(wrapped[id(obj)], "__ct_bench_original__",
                                              None) is obj:
                setattr(module, attr, wrapped[id(obj)])
    _TRACE_INSTALLED = True
    return len(wrapped)
