"""What the cluster is made of and where each piece listens: one environment for every process.

`make cluster` keeps its state in `CT_CLUSTER_DIR` (default `data/cluster/`, gitignored):
`cluster.json` (the ports it chose), `secrets/` (a generated password, mode 0600), `env` (the
variables below, to `source` in a shell). A service whose variables are already set in the
environment is an existing server: it is used as it is and not started.

- `CT_PG_HOST`, `CT_PG_PORT`, `CT_PG_USER`: the Postgres of the Dagster instance, the MLflow
  store and the DuckLake catalog (local: 127.0.0.1, a free port, `ct`); its password from
  `PGPASSWORD` or `PGPASSFILE`, read by libpq in every client (local: `secrets/pgpass`).
- `CT_DAGSTER_DB`, `CT_MLFLOW_DB`, `CT_LAKE_DB`: the three databases (`ct_dagster`,
  `ct_mlflow`, `ct_lake`).
- `CT_CELERY_BROKER`, `CT_CELERY_BACKEND`: Redis URLs (local: a redis-server with a password).
- `MLFLOW_TRACKING_URI`: an MLflow tracking server's http address (local: `mlflow server`).
- `CT_WAREHOUSE`: the warehouse target (local: DuckLake, catalog in `CT_LAKE_DB`, Parquet in
  `lake/`).
- `CT_CLUSTER_DATA_DIR`: landing files and profiles, on storage every worker reaches (local:
  `data/` in the cluster dir; exported to the processes as `CT_DATA_DIR`).
"""

import contextlib
import json
import os
import secrets
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path

PG_USER = "ct"
DATABASES = {"CT_DAGSTER_DB": "ct_dagster", "CT_MLFLOW_DB": "ct_mlflow", "CT_LAKE_DB": "ct_lake"}
PORT_NAMES = ("postgres", "redis", "mlflow", "webserver")


@contextlib.contextmanager
def environment(values: dict[str, str | None]):
    """Set (or, for None, remove) variables of this process for the block, then restore them:
    libpq and the Dagster instance read the process environment."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        for key, value in values.items():
            if value:
                os.environ[key] = value
            else:
                os.environ.pop(key, None)
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Cluster:
    """A local cluster's folder and the ports it listens on (127.0.0.1 only)."""

    root: Path
    ports: dict[str, int] = field(default_factory=dict)
    workers: int = 2

    @classmethod
    def load(cls, root: Path, workers: int = 2) -> "Cluster":
        """The cluster in `root`, choosing free ports (and a password) the first time."""
        root = root.resolve()
        state = root / "cluster.json"
        cluster = cls(root, workers=workers)
        if state.exists():
            cluster.ports = json.loads(state.read_text())["ports"]
        for name in PORT_NAMES:
            cluster.ports.setdefault(name, free_port())
        root.mkdir(parents=True, exist_ok=True)
        state.write_text(json.dumps({"ports": cluster.ports}, indent=1))
        cluster._ensure_secrets()
        return cluster

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def password(self) -> str:
        return (self.secrets / "password").read_text().strip()

    def _ensure_secrets(self) -> None:
        self.secrets.mkdir(mode=0o700, exist_ok=True)
        password = self.secrets / "password"
        if not password.exists():
            password.touch(mode=0o600)
            password.write_text(secrets.token_urlsafe(24) + "\n")
        pgpass = self.secrets / "pgpass"
        pgpass.touch(mode=0o600)
        pgpass.write_text(f"127.0.0.1:{self.ports['postgres']}:*:{PG_USER}:{self.password}\n")

    def path(self, name: str) -> Path:
        return self.root / name

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Every variable of the cluster over `base` (default the environment). Existing
        servers given in `base` win over the local defaults; `DAGSTER_HOME` and `CT_DATA_DIR`
        are always the cluster's (`make` exports those of `make dev`), the shared data folder
        can be moved with `CT_CLUSTER_DATA_DIR`."""
        base = dict(os.environ if base is None else base)
        redis = f"redis://:{self.password}@127.0.0.1:{self.ports['redis']}"
        env = {
            "CT_PG_HOST": "127.0.0.1", "CT_PG_PORT": str(self.ports["postgres"]),
            "CT_PG_USER": PG_USER, **DATABASES,
            "CT_CELERY_BROKER": f"{redis}/0", "CT_CELERY_BACKEND": f"{redis}/1",
            "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{self.ports['mlflow']}",
        }
        external = self.external(base)
        env.update({k: base[k] for k in env if base.get(k)
                    and (k != "MLFLOW_TRACKING_URI" or external["mlflow"])})
        if not external["postgres"]:
            env["PGPASSFILE"] = str(self.secrets / "pgpass")
        env["CT_WAREHOUSE"] = base.get("CT_WAREHOUSE") or (
            f"ducklake+postgresql://{env['CT_PG_USER']}@{env['CT_PG_HOST']}:{env['CT_PG_PORT']}"
            f"/{env['CT_LAKE_DB']}?data_path={self.path('lake')}/")
        env.update({
            "CT_DATA_DIR": base.get("CT_CLUSTER_DATA_DIR") or str(self.path("data")),
            "DAGSTER_HOME": str(self.path("dagster_home")),
            # A tracking server that is down fails a step in seconds, not after minutes.
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        })
        return {**base, **env}

    def external(self, env: dict[str, str] | None = None) -> dict[str, bool]:
        """Which services are existing servers (their variables were set before)."""
        env = dict(os.environ if env is None else env)
        return {"postgres": bool(env.get("CT_PG_HOST")),
                "redis": bool(env.get("CT_CELERY_BROKER")),
                "mlflow": env.get("MLFLOW_TRACKING_URI", "").startswith(("http://", "https://"))}

    def write_env_file(self, env: dict[str, str]) -> Path:
        """`source data/cluster/env` gives a shell the cluster's configuration."""
        keys = [*self.env({}), "PGPASSWORD"]
        lines = ["# Written by `make cluster`: source it to use the cluster from a shell."]
        lines += [f"export {k}={_quote(env[k])}" for k in keys if env.get(k)]
        path = self.path("env")
        path.touch(mode=0o600)
        path.write_text("\n".join(lines) + "\n")
        return path

    def describe(self) -> dict:
        return asdict(self) | {"root": str(self.root)}


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"
