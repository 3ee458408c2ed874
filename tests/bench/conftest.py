"""The bench scripts and fault drills at CI size. They assert behaviour and query counts, never times.

Worker tests need PostgreSQL and Redis (scripts/test.sh starts embedded ones); without them they fail.
"""

from __future__ import annotations

import pytest
from django.conf import settings


def _redis_reachable() -> bool:
    if not settings.REDIS_URL:
        return False
    try:
        import redis

        return bool(redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping())
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False


@pytest.fixture
def require_redis() -> str:
    if not _redis_reachable():
        pytest.fail(f"this test needs a reachable Redis at REDIS_URL ({settings.REDIS_URL or 'unset'})")
    return str(settings.REDIS_URL)


@pytest.fixture
def live_worker_db(transactional_db):  # noqa: ANN001
    """Committed rows (a worker in another process must see them), on PostgreSQL."""
    return transactional_db
