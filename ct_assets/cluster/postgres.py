"""The cluster's Postgres, from the Debian packages: initdb under the cluster folder, started
by the `postgres` user when we are root (Postgres refuses to run as root), on 127.0.0.1 only
and no Unix socket; the three databases of the cluster created in it (or in an existing
server)."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ct_assets.cluster import checks
from ct_assets.cluster.config import DATABASES, PG_USER, Cluster
from ct_assets.core.errors import ServiceError

PG_BIN = Path(os.environ.get("CT_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def start_postgres(cluster: Cluster) -> None:
    if not (PG_BIN / "postgres").exists():
        raise ServiceError(f"Postgres binaries not found in {PG_BIN}: install the Debian "
                           "package `postgresql` (make cluster does it as root)")
    data = cluster.path("pg")
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(data, "postgres", "postgres")
        data.chmod(0o700)
        # initdb reads the superuser's password from a file that its user can read.
        with tempfile.NamedTemporaryFile("w", prefix="ct-pw-") as pwfile:
            pwfile.write(cluster.password + "\n")
            pwfile.flush()
            if os.geteuid() == 0:
                shutil.chown(pwfile.name, "postgres")
            result = subprocess.run(
                _as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", PG_USER,
                              "--auth=scram-sha-256", f"--pwfile={pwfile.name}", "-E", "UTF8",
                              "--no-instructions"]), capture_output=True, text=True, cwd="/")
        if result.returncode != 0:
            raise ServiceError(f"initdb in {data} failed: {result.stderr.strip()[-500:]}")
    status = subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "status", "-D", str(data)]),
                            capture_output=True, cwd="/")
    if status.returncode != 0:
        options = (f"-c listen_addresses=127.0.0.1 -p {cluster.ports['postgres']} "
                   "-c unix_socket_directories='' -c max_connections=200")
        result = subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "start", "-w", "-t", "60",
                                              "-D", str(data), "-l", str(data / "server.log"),
                                              "-o", options]),
                                capture_output=True, text=True, cwd="/")
        if result.returncode != 0:
            tail = (data / "server.log").read_text(errors="replace").splitlines()[-10:]
            raise ServiceError(f"Postgres on 127.0.0.1:{cluster.ports['postgres']} did not "
                               "start:\n" + "\n".join(tail))


def create_databases(env: dict[str, str]) -> None:
    import psycopg2
    import psycopg2.sql

    with checks.postgres_connection(env, "postgres") as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            for var in DATABASES:
                name = env[var]
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
                if not cur.fetchone():
                    try:
                        # a name cannot be a parameter: psycopg2 quotes it as an identifier
                        cur.execute(psycopg2.sql.SQL("CREATE DATABASE {}").format(
                            psycopg2.sql.Identifier(name)))
                    except psycopg2.Error as exc:
                        raise ServiceError(
                            f"Postgres at {checks.pg_address(env)}: cannot create database "
                            f"{name} ({str(exc).strip()}); create it or grant CREATEDB") from exc


def stop_postgres(cluster: Cluster) -> bool:
    data = cluster.path("pg")
    if not (data / "PG_VERSION").exists():
        return False
    result = subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "stop", "-D", str(data),
                                          "-m", "fast", "-w"]), capture_output=True, cwd="/")
    return result.returncode == 0
