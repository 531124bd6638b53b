"""Is each service of the cluster there? One check per component, each answer names the
component and its address (never a password), so bad configuration reads as a sentence, not a
stack trace."""

import contextlib
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from ct_assets.cluster.config import environment
from ct_assets.core.errors import ServiceError


@dataclass(frozen=True)
class Check:
    component: str
    address: str
    ok: bool
    detail: str

    @property
    def message(self) -> str:
        return f"{self.component} at {self.address}: {self.detail}"


def require(check: Check) -> Check:
    if not check.ok:
        raise ServiceError(check.message)
    return check


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()[:300]


def pg_address(env: dict[str, str], database: str | None = None) -> str:
    user, host, port = (env.get(k, "?") for k in ("CT_PG_USER", "CT_PG_HOST", "CT_PG_PORT"))
    return f"{user}@{host}:{port}" + (f"/{database}" if database else "")


@contextlib.contextmanager
def postgres_connection(env: dict[str, str], database: str, timeout_s: int = 5):
    import psycopg2

    with _pg_env(env):
        conn = psycopg2.connect(host=env["CT_PG_HOST"], port=int(env["CT_PG_PORT"]),
                                user=env["CT_PG_USER"], dbname=database,
                                connect_timeout=timeout_s)
    try:
        yield conn
    finally:
        conn.close()


def _pg_env(env: dict[str, str]):
    """libpq reads the password from the process environment: lend it `env`'s."""
    return environment({k: env.get(k) for k in ("PGPASSWORD", "PGPASSFILE")})


def postgres(env: dict[str, str], database: str | None = None) -> Check:
    import psycopg2

    database = database or env.get("CT_DAGSTER_DB", "postgres")
    address = pg_address(env, database)
    try:
        with postgres_connection(env, database) as conn, conn.cursor() as cur:
            cur.execute("SELECT version()")
            version = cur.fetchone()[0].split(",")[0]
    except psycopg2.OperationalError as exc:
        reason = _one_line(str(exc).split("failed:", 1)[-1])
        if "does not exist" in reason:
            return Check("Postgres", address, True, f"reachable; {reason}")
        return Check("Postgres", address, False, f"unreachable or refused: {reason}")
    except (KeyError, ValueError) as exc:
        return Check("Postgres", address, False, f"not configured ({exc})")
    return Check("Postgres", address, True, version)


def warehouse(env: dict[str, str]) -> Check:
    from ct_assets.core import warehouse_backends as backends

    try:
        target = backends.parse_target(env.get("CT_WAREHOUSE", ""))
    except ServiceError as exc:
        return Check("warehouse", "?", False, str(exc))
    with _pg_env(env):
        backends.forget(target)          # attach anew, with these credentials
        try:
            conn = backends.open_server(target, read_only=False)
        except ServiceError as exc:
            return Check(f"warehouse ({target.label})", target.address, False,
                         str(exc).split(": ", 1)[-1])
        conn.close()
    return Check(f"warehouse ({target.label})", target.address, True, "attached")


def broker_address(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}{parts.path}"


def broker(env: dict[str, str], timeout_s: float = 3) -> Check:
    url = env.get("CT_CELERY_BROKER", "")
    if not url.startswith(("redis://", "rediss://")):
        return Check("Celery broker", url or "?", False,
                     "CT_CELERY_BROKER must be a redis:// URL")
    import redis

    address = broker_address(url)
    try:
        redis.Redis.from_url(url, socket_timeout=timeout_s,
                             socket_connect_timeout=timeout_s).ping()
    except redis.AuthenticationError as exc:
        return Check("Celery broker (Redis)", address, False, f"refused: {_one_line(str(exc))}")
    except redis.RedisError as exc:
        return Check("Celery broker (Redis)", address, False,
                     f"unreachable: {_one_line(str(exc))}")
    return Check("Celery broker (Redis)", address, True, "PONG")


def mlflow(env: dict[str, str], timeout_s: float = 5) -> Check:
    uri = env.get("MLFLOW_TRACKING_URI", "")
    if not uri.startswith(("http://", "https://")):
        return Check("MLflow tracking server", uri or "?", False,
                     "MLFLOW_TRACKING_URI must be the server's http:// address")
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout_s) as resp:
            body = resp.read(100).decode(errors="replace").strip()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Check("MLflow tracking server", uri, False, f"unreachable: {reason}")
    return Check("MLflow tracking server", uri, True, body or "healthy")


def workers(env: dict[str, str], timeout_s: float = 1.0) -> list[str]:
    """Names of the Celery workers that answer a ping."""
    from celery import Celery

    app = Celery(broker=env["CT_CELERY_BROKER"], backend=env["CT_CELERY_BACKEND"])
    try:
        replies = app.control.ping(timeout=timeout_s) or []
    except Exception:  # the broker is down: no worker answers (broker() says why)
        return []
    finally:
        app.close()
    return sorted(name for reply in replies for name in reply)


def all_checks(env: dict[str, str]) -> list[Check]:
    found = [postgres(env), broker(env), mlflow(env)]
    found.append(warehouse(env) if found[0].ok else
                 Check("warehouse", env.get("CT_WAREHOUSE", "?").split("?")[0], False,
                       "skipped: Postgres is not reachable"))
    if found[1].ok:
        names = workers(env)
        found.append(Check("Celery workers", broker_address(env["CT_CELERY_BROKER"]),
                           bool(names), json.dumps(names) if names else "none answered"))
    return found
