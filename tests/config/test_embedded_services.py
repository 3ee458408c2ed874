"""The embedded PostgreSQL and Redis that scripts/test.sh and scripts/run.sh start when no URLs are set.

Started here exactly as test.sh does (`python -m config.embedded start FOLDER` in a fresh temporary folder,
its output eval'd), used with psycopg and redis-py and by Django's own settings, then stopped. No skip: CI
has the wheels too (requirements-dev.lock).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]


def _embedded(command: str, folder: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "config.embedded", command, str(folder)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _exports(text: str) -> dict[str, str]:
    pairs = (line.removeprefix("export ").split("=", 1) for line in text.splitlines() if line.startswith("export "))
    return {name: value.strip("'") for name, value in pairs}


@pytest.fixture
def bare_env() -> Iterator[dict[str, str]]:
    yield {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}


@pytest.fixture
def folder() -> Iterator[Path]:
    # A short path like test.sh's mktemp: unix socket paths are limited to ~100 characters.
    path = Path(tempfile.mkdtemp(prefix="dw-embedded-"))
    yield path / "services"
    _embedded("stop", path / "services", dict(os.environ))
    shutil.rmtree(path, ignore_errors=True)


def test_start_gives_a_real_postgresql_and_redis_and_stop_stops_them(bare_env, folder):
    urls = _exports(_embedded("start", folder, bare_env))
    assert set(urls) == {"DATABASE_URL", "REDIS_URL"}
    assert urls["REDIS_URL"].startswith("unix://")

    # Django reads the URL as a PostgreSQL database on the socket folder; psycopg connects with those settings.
    import dj_database_url

    db = dj_database_url.parse(urls["DATABASE_URL"])
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert db["NAME"] == "dosewise"
    with psycopg.connect(host=db["HOST"], user=db["USER"], dbname=db["NAME"]) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()
        assert version is not None and int(version[0]) >= 160000
        conn.execute("CREATE TABLE probe (id int)")
        conn.execute("INSERT INTO probe VALUES (1)")
        assert conn.execute("SELECT count(*) FROM probe").fetchone() == (1,)

    client = redis.Redis.from_url(urls["REDIS_URL"])
    assert client.ping()
    client.set("dosewise:probe", "1")
    assert client.get("dosewise:probe") == b"1"
    redis_pid = int((folder / "redis" / "redis.pid").read_text())
    postmaster_pid = int((folder / "postgres" / "postmaster.pid").read_text().split()[0])

    # A second start on the same folder reuses the running servers (run.sh after a crash, say).
    assert _exports(_embedded("start", folder, bare_env)) == urls
    assert int((folder / "redis" / "redis.pid").read_text()) == redis_pid

    # Settings turn the unix socket into kombu's redis+socket broker URL for the worker and beat.
    probe = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.CELERY_BROKER_URL)"],
        cwd=ROOT, env={**bare_env, **urls, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True, text=True, timeout=60,
    )
    assert probe.stdout.strip() == "redis+socket://" + urls["REDIS_URL"].removeprefix("unix://"), probe.stderr

    _embedded("stop", folder, bare_env)
    assert not psutil.pid_exists(redis_pid)
    assert not psutil.pid_exists(postmaster_pid)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host=db["HOST"], user=db["USER"], dbname=db["NAME"], connect_timeout=2)
    # The data stays for the next start (run.sh keeps it under var/services).
    assert (folder / "postgres" / "PG_VERSION").exists()


def test_start_leaves_out_what_the_environment_already_names(bare_env, folder):
    urls = _exports(_embedded("start", folder, {**bare_env, "REDIS_URL": "redis://127.0.0.1:6379/14"}))
    assert set(urls) == {"DATABASE_URL"}
    assert not (folder / "redis").exists()


@pytest.mark.parametrize(
    ("settings_dict", "host", "port"),
    [
        ({"USER": "postgres", "PASSWORD": "", "HOST": "127.0.0.1", "PORT": 5432, "NAME": "t"}, "127.0.0.1", 5432),
        ({"USER": "postgres", "PASSWORD": "p@ss", "HOST": "", "PORT": "", "NAME": "t"}, "127.0.0.1", 5432),
        ({"USER": "postgres", "PASSWORD": None, "HOST": "/tmp/dw x/postgres", "PORT": "", "NAME": "t"},
         "/tmp/dw x/postgres", ""),
    ],
)
def test_a_worker_subprocess_gets_a_url_for_the_same_database_tcp_or_unix_socket(settings_dict, host, port):
    import dj_database_url

    from config.embedded import database_url_for

    parsed = dj_database_url.parse(database_url_for(settings_dict))
    assert (parsed["HOST"], parsed["PORT"], parsed["NAME"]) == (host, port, "t")
    assert parsed["PASSWORD"] == (settings_dict["PASSWORD"] or "")
