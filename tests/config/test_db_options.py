"""The database session settings sent at connect (config.settings DB_OPTIONS): no JIT compilation by default."""

from __future__ import annotations

import pytest
from django.db import connection


@pytest.mark.django_db
def test_every_connection_runs_without_jit_compilation():
    # At a chain's size, short indexed queries passed jit_above_cost and paid ~10 ms of compiling each (issue #16).
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
