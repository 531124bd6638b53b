"""The project's definitions, imported once by the run launcher's forkserver (the last of
`launcher.DEFAULT_PRELOAD`), so that a run forked from it does not import them again: 0.12 s
of CPU in every run (the project's modules, its `Definitions` and their asset graph), and
opens the project's MLflow store (`registry.open_for_forks`: 60 ms of every run). Then
everything the server imported is frozen out of the runs' garbage collections (`gc.freeze`).

A run must see the code as it is when the run starts, as with Dagster's own launcher, and the
forkserver lives as long as the daemon. So the first thing each run process does
(`launcher.execute_run`) is `drop_if_stale`: if any Python file of the project changed since
the server imported it (path, modification or change time, size), or that import failed, the run
forgets every project module and imports the project afresh, as without a preload.
"""

import gc
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
Snapshot = tuple[tuple[str, int, int, int], ...]


def source_snapshot(root: Path = ROOT) -> Snapshot:
    """(path, modification time, change time, size) of every Python file under `root` (under a
    millisecond for the project's 150 files). The change time catches a copy that keeps the
    modification time (`cp -p`, `rsync -a`): no one can set it back."""
    found = []
    pending = [str(root)]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        pending.append(entry.path)
                elif entry.name.endswith(".py"):
                    stat = entry.stat()
                    found.append((entry.path, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size))
    return tuple(sorted(found))


def forget_project() -> None:
    """Drop the project's modules (but this one and the launcher, which are running), so the
    next import of any of them reads the files as they are now."""
    keep = {__name__, "ct_assets.launcher"}
    for name in [n for n in sys.modules if n == "ct_assets" or n.startswith("ct_assets.")]:
        if name not in keep:
            del sys.modules[name]


def _preload() -> Snapshot | None:
    snapshot = source_snapshot()
    try:
        import ct_assets.compute_logs  # noqa: F401  (the instance's classes: dagster.yaml)
        import ct_assets.definitions as definitions
        import ct_assets.storage  # noqa: F401

        definitions.defs.get_repository_def()     # the asset graph and the jobs, resolved once
    except Exception:  # noqa: BLE001 - a broken edit: each run imports it and reports why
        forget_project()
        return None
    try:
        from ct_assets.registry import open_for_forks

        open_for_forks(definitions.defs.resources["model_registry"].tracking_uri)
    except Exception:  # noqa: BLE001 - only a saving: each run opens the store itself
        pass
    return snapshot


SNAPSHOT = _preload()
# The last of the server's preload: what it imported (half a million objects) moves to the
# collector's permanent generation, so the collections of each forked run no longer walk it
# (allocation-heavy code, pandas' conversions for one, ran up to three times slower), nor
# write to its pages (which the runs then share with the server instead of copying). The
# garbage of the imports is collected first, not frozen with them.
gc.collect()
gc.freeze()


def drop_if_stale() -> bool:
    """In a run process: forget the preloaded project if its sources changed since (or it did
    not import). True when it was forgotten."""
    if SNAPSHOT is not None and SNAPSHOT == source_snapshot():
        return False
    forget_project()
    return True
