"""Querysets compiled once and run again with other values (issue #16).

Building and compiling a queryset costs CPU on every request, for the board's page of rows more than PostgreSQL
takes to run it. A query whose SQL is the same on every request but for its values (the board's page for a zone,
page and filter; the day's headings; a clinic by id) is built and compiled once a thread, with stand-in values,
and each request sends that SQL with its own values in their place. The rows become what the queryset itself
gives, by the ORM's own steps (ModelIterable's and ValuesIterable's: the fields' converters, `from_db`, the
select_related objects, the annotations). tests/web/test_board_prepared.py holds the SQL and the rows equal to
the ORM's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from datetime import date
from typing import Any

from django.db import connection, connections
from django.db.models import QuerySet
from django.db.models.query import ValuesIterable, get_related_populators

# Stand-ins: values no clinic, window or day of the board has; each request's own go in their place.
AS_CLINIC, AS_WINDOW, AS_DAY = -16_001, -16_002, date(1, 1, 2)
_STAND_INS = (AS_CLINIC, AS_WINDOW, AS_DAY)
_KEPT = 256  # compiled queries a thread keeps (zones × pages × filters); then it starts again
_local = threading.local()


class PreparedQuery:
    """A queryset's SQL with stand-ins, compiled once; `run` sends it with other values and makes the rows."""

    def __init__(self, queryset: QuerySet[Any]) -> None:
        self.db = queryset.db
        query = queryset.query
        compiler = query.get_compiler(using=self.db)
        sql, params = compiler.as_sql()
        self.sql, self.params, self.compiler = sql, tuple(params), compiler
        # A stand-in is a parameter of its own type and value (a 0 or another date of the query stays as it is).
        self.where = [i for i, p in enumerate(self.params) if any(type(p) is type(s) and p == s for s in _STAND_INS)]
        if any(str(s) in sql for s in _STAND_INS):
            raise ValueError("a stand-in was written into the SQL, not passed as a parameter")
        self.names: list[str] | None = None
        if queryset._iterable_class is ValuesIterable:  # type: ignore[attr-defined]
            self.names = (list(query.selected) if query.selected
                          else [*query.extra_select, *query.values_select, *query.annotation_select])
            return
        klass_info, select = compiler.klass_info, compiler.select
        fields = klass_info["select_fields"]
        self.start, self.end = fields[0], fields[-1] + 1
        self.model = klass_info["model"]
        self.init_list = [f[0].target.attname for f in select[self.start:self.end]]
        # Django 5.2's signature (the stubs have 6.0's fetch_mode already; the tests fail on a change of these).
        self.populators = get_related_populators(klass_info, select, self.db)  # type: ignore[call-arg]
        self.annotations = list(compiler.annotation_col_map.items())

    def run(self, values: dict[Any, Any]) -> list[Any]:
        """The rows for these values of the stand-ins ({AS_CLINIC: clinic.pk, ...}): instances, or dicts for a
        values() queryset."""
        params = list(self.params)
        for i in self.where:
            params[i] = values[params[i]]
        with connections[self.db].cursor() as cursor:
            cursor.execute(self.sql, params)
            fetched = cursor.fetchall()
        rows = self.compiler.results_iter([fetched])
        if self.names is not None:
            names = self.names
            return [dict(zip(names, row, strict=True)) for row in rows]
        found = []
        for row in rows:
            obj = self.model.from_db(self.db, self.init_list, row[self.start:self.end])
            for populator in self.populators:
                populator.populate(row, obj)
            for name, at in self.annotations:
                setattr(obj, name, row[at])
            found.append(obj)
        return found


def prepared(key: Hashable, build: Callable[[], QuerySet[Any]]) -> PreparedQuery:
    """The compiled query under `key`, built with stand-ins by `build` on first use. One per thread: a compiler
    belongs to its thread's database connection."""
    queries: dict[Hashable, PreparedQuery] | None = getattr(_local, "queries", None)
    if queries is None or len(queries) >= _KEPT:
        queries = _local.queries = {}
    key = (connection.alias, key)
    found = queries.get(key)
    if found is None:
        found = queries[key] = PreparedQuery(build())
    return found
