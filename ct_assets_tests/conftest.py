import datetime as dt
import warnings
from pathlib import Path

import pandas as pd
import pytest

from ct_assets.core import landing
from ct_assets.settings import Settings
from ct_assets.sources import nycflights13 as source

warnings.filterwarnings("ignore", category=DeprecationWarning)

JAN1 = dt.date(2013, 1, 1)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch) -> Settings:
    monkeypatch.setenv("CT_DATA_DIR", str(tmp_path / "data"))
    return Settings.from_env()


def land(settings: Settings, day: dt.date, frame: pd.DataFrame | None = None,
         table: str = "flights") -> Path:
    """Land a day file as a feed would (the real day unless `frame` is given)."""
    path = landing.landed_path(settings.landing_dir, table, day)
    landing.write_new(path, source.day_frame(table, day) if frame is None else frame)
    return path


def land_days(settings: Settings, n: int, start: dt.date = JAN1) -> list[dt.date]:
    days = [start + dt.timedelta(days=i) for i in range(n)]
    for day in days:
        land(settings, day, table="flights")
        land(settings, day, table="weather")
    return days


@pytest.fixture(autouse=True)
def _no_outside_mlflow_store(monkeypatch):
    """`make` exports the developer's MLFLOW_TRACKING_URI; tests use their own data dirs."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


# The scenario files that take longest, slowest first (measured with `pytest --durations`).
# With `--dist loadfile` each file runs on one worker; starting these first keeps one of
# them from being the last file left while the other workers idle.
SLOWEST_FIRST = (
    "cluster/test_cluster_loop.py",
    "bench/pipeline/test_bench.py",
    "defs/test_training.py",
    "defs/test_retrain_loop.py",
    "bench/catchup/test_bench.py",
    "test_project.py",
    "defs/test_concurrency.py",
    "cluster/test_bad_configuration.py",
    "bench/policies/test_cli.py",
)


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        path = item.nodeid.split("::")[0].removeprefix("ct_assets_tests/")
        return SLOWEST_FIRST.index(path) if path in SLOWEST_FIRST else len(SLOWEST_FIRST)

    items.sort(key=rank)                       # stable: the rest keep their order
