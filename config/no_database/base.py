"""Django's dummy backend with a message that says how to get a database (there is no SQLite fallback)."""

from __future__ import annotations

from typing import Any, NoReturn

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.dummy import base as dummy

MESSAGE = (
    "Dosewise needs PostgreSQL and Redis and DATABASE_URL is not set. On a laptop start it with "
    "`bash scripts/run.sh` (or run the tests with `bash scripts/test.sh`): both start an embedded PostgreSQL "
    "and Redis from the virtual environment. To use your own servers set DATABASE_URL=postgres://… and "
    "REDIS_URL=redis://… (see README)."
)


def complain(*args: Any, **kwargs: Any) -> NoReturn:
    raise ImproperlyConfigured(MESSAGE)


class DatabaseOperations(dummy.DatabaseOperations):
    quote_name = complain


class DatabaseClient(dummy.DatabaseClient):
    runshell = complain


class DatabaseIntrospection(dummy.DatabaseIntrospection):
    get_table_list = complain
    get_table_description = complain
    get_relations = complain
    get_indexes = complain


class DatabaseWrapper(dummy.DatabaseWrapper):
    _cursor = complain
    ensure_connection = complain
    _commit = complain
    _savepoint_commit = complain
    _set_autocommit = complain
    client_class = DatabaseClient
    introspection_class = DatabaseIntrospection
    ops_class = DatabaseOperations
