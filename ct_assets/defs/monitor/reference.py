"""The drift reference of a model: the merged whylogs profile of the features it trained on and
the per-feature calibration derived from their daily profiles (see `core/feature_drift.py`).

Built by `candidate_model` and logged with the model (MLflow folder `drift/`); read back by
`feature_drift` for whichever version serves a day, through a local cache so a day's check
does not download anything.
"""

import contextlib
import datetime as dt
import json
import shutil
import tempfile
from pathlib import Path

from ct_assets.core import profiles
from ct_assets.core.errors import CTInputError
from ct_assets.core.loop import DriftReference
from ct_assets.defs.features.assets import FEATURE_PROFILE, profile_feature_days
from ct_assets.registry import ModelRegistryResource
from ct_assets.resources import ProfileStoreResource

FOLDER = "drift"
PROFILE_FILE = "reference_features.bin"
CALIBRATION_FILE = "calibration.json"


def write(ref: DriftReference, folder: Path) -> Path:
    """The reference as files: the merged profile and the calibration (with its days)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PROFILE_FILE).write_bytes(ref.view.serialize())
    (folder / CALIBRATION_FILE).write_text(json.dumps(
        {"days": [str(d) for d in ref.days], "features": ref.calibration}, indent=1))
    return folder


def read(folder: Path) -> DriftReference:
    raw = json.loads((folder / CALIBRATION_FILE).read_text())
    view = profiles.deserialize((folder / PROFILE_FILE).read_bytes())
    return DriftReference(view=view, calibration=raw["features"],
                          days=[dt.date.fromisoformat(d) for d in raw["days"]])


def daily_feature_views(conn, store: ProfileStoreResource, days: list[dt.date], log) -> dict:
    """The stored feature profile of each day; a missing or unreadable one is rebuilt from the
    warehouse (with a warning), so both the reference and the check always see every day."""
    views, rebuild = {}, []
    for day in days:
        try:
            view = store.read(FEATURE_PROFILE, day)
        except CTInputError as exc:
            log.warning(f"{exc}; rebuilding it from flight_features")
            view = None
        if view is None:
            rebuild.append(day)
        else:
            views[day] = view
    for day in profile_feature_days(conn, store, rebuild):
        views[day] = store.read(FEATURE_PROFILE, day)
    if rebuild:
        log.warning("feature profiles rebuilt from the warehouse for "
                    + ", ".join(map(str, rebuild)))
    return views


def for_version(registry: ModelRegistryResource, version: str,
                cache_root: Path) -> DriftReference | None:
    """A version's logged reference (cached under `cache_root`), None if it logged none."""
    cached = Path(cache_root) / "_models" / f"v{version}"
    if not (cached / CALIBRATION_FILE).exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cached.parent, prefix=f".v{version}.") as tmp:
            downloaded = registry.download(version, FOLDER, Path(tmp))
            if downloaded is None:
                return None
            shutil.rmtree(cached, ignore_errors=True)    # a half-written cache from a crash
            with contextlib.suppress(OSError):           # another run cached it meanwhile
                downloaded.replace(cached)
    return read(cached)
