"""Bad configuration reads as a sentence that names the component and its address: a server
that is down, a wrong password, in `python -m ct_assets.cluster check` and in a failed step."""

import subprocess
import sys

import dagster as dg

from ct_assets.cluster import checks
from ct_assets.cluster.config import free_port
from ct_assets.definitions import ASSETS, build_resources
from ct_assets.settings import Settings
from ct_assets_tests.test_project import ROOT


def test_postgres_down_or_refusing_the_password(cluster):
    port = free_port()
    down = checks.postgres({**cluster.env, "CT_PG_PORT": str(port)})
    assert not down.ok
    assert down.message.startswith(f"Postgres at ct@127.0.0.1:{port}/ct_dagster: unreachable")
    assert "Connection refused" in down.message
    wrong = {k: v for k, v in cluster.env.items() if k != "PGPASSFILE"}
    refused = checks.postgres({**wrong, "PGPASSWORD": "not-the-password"})
    assert not refused.ok
    assert refused.address == f"ct@127.0.0.1:{cluster.env['CT_PG_PORT']}/ct_dagster"
    assert 'password authentication failed for user "ct"' in refused.detail
    assert "not-the-password" not in refused.message
    lake = checks.warehouse({**wrong, "PGPASSWORD": "not-the-password"})
    assert not lake.ok and lake.component == "warehouse (DuckLake catalog on Postgres)"
    assert lake.address.endswith("/ct_lake") and "password authentication failed" in lake.detail


def test_broker_down_or_wrong_password_and_mlflow_down(cluster):
    port = free_port()
    down = checks.broker({**cluster.env, "CT_CELERY_BROKER": f"redis://127.0.0.1:{port}/0"})
    assert not down.ok
    assert down.message.startswith(f"Celery broker (Redis) at redis://127.0.0.1:{port}/0: "
                                   "unreachable")
    secret = cluster.cluster.password
    wrong = cluster.env["CT_CELERY_BROKER"].replace(secret, "not-the-password")
    refused = checks.broker({**cluster.env, "CT_CELERY_BROKER": wrong})
    assert not refused.ok and "refused" in refused.detail
    assert "not-the-password" not in refused.message and secret not in refused.message
    mlflow = checks.mlflow({**cluster.env, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"})
    assert not mlflow.ok
    assert mlflow.message.startswith(f"MLflow tracking server at http://127.0.0.1:{port}: "
                                     "unreachable")


def test_the_check_command_prints_a_table_not_a_traceback(cluster, tmp_path):
    port = free_port()
    env = {**cluster.env, "CT_CLUSTER_DIR": str(cluster.cluster.root),
           "CT_CELERY_BROKER": f"redis://127.0.0.1:{port}/0",
           "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"}
    result = subprocess.run([sys.executable, "-m", "ct_assets.cluster", "check"], env=env,
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert "Postgres" in out and "ok" in out
    assert f"redis://127.0.0.1:{port}/0" in out and f"http://127.0.0.1:{port}" in out
    assert "FAILED" in out


def test_a_step_names_the_warehouse_it_could_not_reach(tmp_path, monkeypatch):
    port = free_port()
    monkeypatch.setenv("CT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CT_WAREHOUSE", f"ducklake+postgresql://ct@127.0.0.1:{port}/ct_lake"
                                       f"?data_path={tmp_path}/lake/")
    settings = Settings.from_env()
    result = dg.materialize(ASSETS, selection=["reference_tables"], raise_on_error=False,
                            resources=build_resources(settings))
    failure = next(e for e in result.all_events if e.is_step_failure)
    error = failure.step_failure_data.error
    text = error.cause.message if error.cause else error.message
    assert text.startswith(f"ct_assets.core.warehouse_backends.WarehouseUnavailable: warehouse "
                           f"(DuckLake catalog on Postgres at ct@127.0.0.1:{port}/ct_lake) "
                           "unavailable:"), text
    assert "Connection refused" in text
