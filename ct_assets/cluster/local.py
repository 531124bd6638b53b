"""Start and stop the whole cluster on this machine (`make cluster`, `make cluster-stop`).

Postgres from the Debian packages (initdb under the cluster dir, run by the `postgres` user when
we are root: it refuses to run as root), redis-server, `mlflow server` (Postgres backend store,
proxied artifacts), the Dagster daemon and webserver, and Celery workers. Every service binds
127.0.0.1. Each process is started in a session of its own with its pid in `pids/` and its log
in `logs/`; stopping signals exactly those process groups.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ct_assets.cluster import checks
from ct_assets.cluster.config import Cluster
from ct_assets.cluster.postgres import create_databases, start_postgres, stop_postgres
from ct_assets.core.errors import ServiceError

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
START_TIMEOUT_S = 180


def _pid(cluster: Cluster, name: str) -> int | None:
    path = cluster.path("pids") / f"{name}.pid"
    if not path.exists():
        return None
    pid = int(path.read_text().split()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


def spawn(cluster: Cluster, name: str, argv: list[str], env: dict[str, str]) -> int:
    """Start a service in a session of its own (its group is what `stop` signals)."""
    if _pid(cluster, name):
        return _pid(cluster, name)
    for folder in ("pids", "logs"):
        cluster.path(folder).mkdir(exist_ok=True)
    log = (cluster.path("logs") / f"{name}.log").open("ab")
    proc = subprocess.Popen(argv, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    (cluster.path("pids") / f"{name}.pid").write_text(f"{proc.pid}\n")
    return proc.pid


def stop_process(cluster: Cluster, name: str, timeout_s: float = 15.0) -> bool:
    pid = _pid(cluster, name)
    pidfile = cluster.path("pids") / f"{name}.pid"
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return False
    # SIGINT too: Dagster's daemon and webserver started without a terminal ignore SIGTERM
    # (DAGSTER_NOTES.md §9); both signals ask for a clean exit.
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _group_alive(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)      # started by this process: reap it
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
    return True


def _group_alive(pgid: int) -> bool:
    import psutil

    for proc in psutil.process_iter(["status"]):
        with contextlib.suppress(OSError):
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
    return False


def wait_for(what: str, ready: Callable[[], bool], cluster: Cluster | None = None,
             name: str | None = None, timeout_s: float = START_TIMEOUT_S) -> None:
    """Poll `ready` until it holds; fail with the log's tail if the process `name` exits or the
    time runs out."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        died = cluster is not None and name is not None and _pid(cluster, name) is None
        if died or time.monotonic() > deadline:
            tail = ""
            log = cluster.path("logs") / f"{name}.log" if cluster and name else None
            if log and log.exists():
                tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            why = "exited" if died else f"did not come up within {timeout_s:.0f} s"
            raise ServiceError(f"{what} {why}{tail}")
        time.sleep(0.5)


# -- the rest ----------------------------------------------------------------------------------


def start_redis(cluster: Cluster, env: dict[str, str]) -> None:
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(server).exists():
        raise ServiceError("redis-server not found: install the Debian package `redis-server` "
                           "(make cluster does it as root)")
    conf = cluster.secrets / "redis.conf"
    conf.touch(mode=0o600)
    conf.write_text(f"bind 127.0.0.1\nport {cluster.ports['redis']}\nprotected-mode yes\n"
                    f"requirepass {cluster.password}\ndir {cluster.path('redis')}\n"
                    "save \"\"\nappendonly no\n")
    cluster.path("redis").mkdir(exist_ok=True)
    spawn(cluster, "redis", [server, str(conf)], env)
    wait_for(f"Redis on 127.0.0.1:{cluster.ports['redis']}",
             lambda: checks.broker(env, timeout_s=1).ok, cluster, "redis")


def start_mlflow(cluster: Cluster, env: dict[str, str]) -> None:
    store = (f"postgresql+psycopg2://{env['CT_PG_USER']}@{env['CT_PG_HOST']}:{env['CT_PG_PORT']}/"
             f"{env['CT_MLFLOW_DB']}")
    cluster.path("mlartifacts").mkdir(exist_ok=True)
    spawn(cluster, "mlflow", [str(BIN / "mlflow"), "server", "--backend-store-uri", store,
                              "--serve-artifacts", "--artifacts-destination",
                              str(cluster.path("mlartifacts")), "--host", "127.0.0.1",
                              "--port", str(cluster.ports["mlflow"]), "--workers", "1"],
          # Tracking and the registry only: without the server's job runner (eight idle
          # processes for MLflow's GenAI jobs) and its usage telemetry.
          env | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
                 "MLFLOW_DISABLE_TELEMETRY": "true"})
    wait_for(f"MLflow server on {env['MLFLOW_TRACKING_URI']}",
             lambda: checks.mlflow(env, timeout_s=2).ok, cluster, "mlflow")


def write_instance(cluster: Cluster, env: dict[str, str]) -> None:
    home = Path(env["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    config = Path(__file__).with_name("dagster.yaml").read_text()
    # As many runs at once as the workers take (one each); the rest wait in Dagster's queue.
    (home / "dagster.yaml").write_text(config.replace(
        "max_concurrent_runs: 2", f"max_concurrent_runs: {cluster.workers}"))
    # Create the instance's tables once, before the daemon, webserver and workers race to.
    subprocess.run([str(BIN / "dagster"), "instance", "migrate"], env=env, cwd=REPO,
                   check=True, capture_output=True)


def start_workers(cluster: Cluster, env: dict[str, str]) -> list[str]:
    names = []
    for i in range(1, cluster.workers + 1):
        name = f"worker{i}"
        spawn(cluster, name, [str(BIN / "celery"), "-A", "ct_assets.cluster.worker", "worker",
                              "-Q", "dagster", "-n", f"{name}@%h", "--concurrency", "1",
                              "--prefetch-multiplier", "1", "--loglevel", "WARNING",
                              "--without-gossip", "--without-mingle"],
              {**env, "PYTHONWARNINGS": "ignore"})     # no beta notices in every task's log
        names.append(name)
    wait_for(f"{cluster.workers} Celery workers",
             lambda: len(checks.workers(env)) >= cluster.workers, cluster, "worker1")
    return names


def start(cluster: Cluster, *, webserver: bool = True, daemon: bool = True,
          base: dict[str, str] | None = None,
          progress: Callable[[str], None] = lambda _: None) -> dict[str, str]:
    """Start (or keep) every service; returns the cluster's environment (over `base`, default
    the process environment, whose service variables name existing servers)."""
    env = cluster.env(base)
    external = cluster.external(base)
    if not external["postgres"]:
        progress("Postgres")
        start_postgres(cluster)
    checks.require(checks.postgres(env))
    create_databases(env)
    # Attaching creates DuckLake's catalog tables the first time: once, here, before workers
    # would race to create them.
    checks.require(checks.warehouse(env))
    if not external["redis"]:
        progress("Redis")
        start_redis(cluster, env)
    checks.require(checks.broker(env))
    if not external["mlflow"]:
        progress("MLflow server")
        start_mlflow(cluster, env)
    checks.require(checks.mlflow(env))
    progress("Dagster instance")
    write_instance(cluster, env)
    cluster.write_env_file(env)
    progress("Celery workers")
    start_workers(cluster, env)
    if daemon:
        start_daemon(cluster, env)
    if webserver:
        progress("Dagster webserver")
        spawn(cluster, "webserver", [str(BIN / "dagster-webserver"), "-w", "workspace.yaml",
                                     "-h", "127.0.0.1", "-p", str(cluster.ports["webserver"])],
              env)
    return env


def start_daemon(cluster: Cluster, env: dict[str, str]) -> None:
    spawn(cluster, "daemon", [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], env)


# Service variables that point at existing servers; a temporary cluster ignores them.
SERVICE_VARIABLES = ("CT_PG_HOST", "CT_PG_PORT", "CT_PG_USER", "PGPASSWORD", "PGPASSFILE",
                     "CT_CELERY_BROKER", "CT_CELERY_BACKEND", "MLFLOW_TRACKING_URI",
                     "CT_WAREHOUSE", "CT_CLUSTER_DATA_DIR")


@contextlib.contextmanager
def temporary(workers: int = 2, **options):
    """A whole local cluster in a temporary folder (tests, benchmarks): every service its own,
    whatever the environment points at; stopped and removed afterwards. Yields (cluster, env)."""
    root = Path(tempfile.mkdtemp(prefix="ct-cluster-"))
    root.chmod(0o755)                    # the postgres user reaches its data folder
    cluster = Cluster.load(root / "cluster", workers=workers)
    base = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    try:
        yield cluster, start(cluster, base=base, **options)
    finally:
        stop(cluster, base)
        shutil.rmtree(root, ignore_errors=True)


SERVICES = ("webserver", "daemon", "worker*", "mlflow", "redis")


def stop(cluster: Cluster, base: dict[str, str] | None = None) -> list[str]:
    """Stop every process this cluster started (by their pid files) and its Postgres."""
    stopped = []
    for pattern in SERVICES:
        for pidfile in sorted(cluster.path("pids").glob(f"{pattern}.pid")):
            if stop_process(cluster, pidfile.stem):
                stopped.append(pidfile.stem)
    if not cluster.external(base)["postgres"] and stop_postgres(cluster):
        stopped.append("postgres")
    return stopped
