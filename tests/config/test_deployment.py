"""The deployment files and production settings: no Docker engine runs here, so we check structure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_postgres_redis_web_worker_and_beat(compose):
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(compose["services"])


def test_web_worker_and_beat_reuse_one_image(compose):
    services = compose["services"]
    images = {services[name]["image"] for name in ("web", "worker", "beat")}
    builds = {services[name]["build"] for name in ("web", "worker", "beat")}
    assert images == {"dosewise:latest"}
    assert builds == {"."}
    assert "gunicorn" in services["web"]["command"]
    assert services["worker"]["command"][:3] == ["celery", "-A", "config"] and "worker" in services["worker"]["command"]
    assert "beat" in services["beat"]["command"]


def test_every_long_running_service_has_a_health_check(compose):
    for name in ("postgres", "redis", "web", "worker", "beat"):
        assert "test" in compose["services"][name]["healthcheck"], name


def test_app_services_point_at_postgres_and_redis(compose):
    env = compose["services"]["web"]["environment"]
    assert env["DATABASE_URL"].startswith("postgres://")
    assert env["REDIS_URL"].startswith("redis://")


def test_dockerfile_installs_the_runtime_lock():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "requirements.lock" in dockerfile
    assert "python:3.11" in dockerfile


def _production_env() -> dict[str, str]:
    # DJANGO_ALLOW_ASYNC_UNSAFE is set for the browser tests only; production never has it.
    env = {k: v for k, v in os.environ.items() if k not in {"DOSEWISE_DEV", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(
        SECRET_KEY="a-production-secret-key-that-is-long-and-random-0123456789-abcdefghijklmnop",
        ALLOWED_HOSTS="dosewise.example.org",
        DEBUG="0",
        HTTPS="1",
    )
    return env


def test_production_settings_pass_check_deploy_without_warnings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=_production_env(), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = _production_env()
    env.pop("SECRET_KEY")
    assert env["HTTPS"] == "1"
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_without_database_url_a_database_command_says_how_to_start_and_there_is_no_sqlite():
    env = {k: v for k, v in os.environ.items()
           if k not in {"DOSEWISE_DEV", "DEBUG", "SECRET_KEY", "HTTPS", "DATABASE_URL", "REDIS_URL"}}
    settings_only = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         "from django.conf import settings as s; print(s.SECURE_SSL_REDIRECT, s.DATABASES['default']['ENGINE'])"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert settings_only.returncode == 0, settings_only.stderr  # laptop-mode settings load (collectstatic, mypy)
    assert settings_only.stdout.strip().splitlines()[-1].split() == ["False", "config.no_database"]
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert migrate.returncode != 0
    assert "DATABASE_URL is not set" in migrate.stderr
    assert "bash scripts/run.sh" in migrate.stderr


def test_a_database_url_that_is_not_postgresql_is_refused():
    env = {**os.environ, "DATABASE_URL": "sqlite:///tmp/dosewise-not-allowed.sqlite3"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "DATABASE_URL must name a PostgreSQL database" in result.stderr


def test_the_worker_refuses_to_start_without_redis_and_says_how():
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "REDIS_URL is not set" in result.stdout + result.stderr
