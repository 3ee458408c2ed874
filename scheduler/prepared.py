"""Querysets compiled once and run again with other values (issue #16), low in the house so the selectors, the API
and the pages (the board's page of rows, its headings, a clinic by id) share one implementation.

Building and compiling a queryset costs CPU on every request, for a short read (availability's one statement, the
board's page of rows) more than PostgreSQL takes to run it. A query whose SQL is the same on every request but for
its values (a clinic, a window, a date) is built and compiled once a thread, with stand-in values, and each request
sends that SQL with its own values in their place. The rows become what the queryset itself gives, by the ORM's own
steps (ModelIterable's and ValuesIterable's: the fields' converters, `from_db`, the select_related objects, the
annotations). tests/web/test_board_prepared.py and tests/visits/test_prepared_h4.py hold the SQL and the rows equal
to the ORM's.

Only values given as stand-ins change between runs: a value the build reads from the request (a user's clinic ids)
must never be built in, or the first request's values would answer every later one. A stand-in written into the SQL
text rather than passed as a parameter is refused.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from datetime import date
from typing import Any

from django.db import connection, connections
from django.db.models import QuerySet
from django.db.models.query import ModelIterable, ValuesIterable, get_related_populators

# Stand-ins: values no clinic, patient, window or day has; each run's own go in their place.
AS_CLINIC, AS_PATIENT, AS_WINDOW, AS_DAY = -16_101, -16_102, -16_103, date(1, 1, 3)
_STAND_INS = (AS_CLINIC, AS_PATIENT, AS_WINDOW, AS_DAY)
_KEPT = 256  # compiled queries a thread keeps (the board's zones × pages × filters, the API's); then it starts again
_local = threading.local()


class PreparedQuery:
    """A queryset's SQL with stand-ins, compiled once; `run` sends it with other values and makes the rows."""

    def __init__(self, queryset: QuerySet[Any]) -> None:
        iterable = queryset._iterable_class  # type: ignore[attr-defined]
        if iterable not in (ModelIterable, ValuesIterable):
            raise ValueError("only querysets of model instances or of values() dicts")
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
        if iterable is ValuesIterable:
            self.names = (
                list(query.selected)
                if query.selected
                else [*query.extra_select, *query.values_select, *query.annotation_select]
            )
            return
        klass_info, select = compiler.klass_info, compiler.select
        fields = klass_info["select_fields"]
        self.start, self.end = fields[0], fields[-1] + 1
        self.model = klass_info["model"]
        self.init_list = [f[0].target.attname for f in select[self.start : self.end]]
        # Django 5.2's signature (the stubs have 6.0's fetch_mode already; the tests fail on a change of these).
        self.populators = get_related_populators(klass_info, select, self.db)  # type: ignore[call-arg]
        self.annotations = list(compiler.annotation_col_map.items())

    def run(self, values: dict[Any, Any]) -> list[Any]:
        """The instances (or dicts, for a values() queryset) for these values of the stand-ins ({AS_CLINIC: clinic.pk,
        AS_DAY: day})."""
        rows = self._rows(values)
        if self.names is not None:
            names = self.names
            return [dict(zip(names, row, strict=True)) for row in rows]
        found = []
        for row in rows:
            obj = self.model.from_db(self.db, self.init_list, row[self.start : self.end])
            for populator in self.populators:
                populator.populate(row, obj)
            for name, at in self.annotations:
                setattr(obj, name, row[at])
            found.append(obj)
        return found

    def run_columns(self, values: dict[Any, Any]) -> tuple[dict[str, int], list[Sequence[Any]]]:
        """The rows, each value converted as `run` converts it, and each model attribute's (and
        annotation's) place in them: for a caller that reads a page's columns rather than its instances (the visit
        list's JSON, issue #16). Only for a model queryset without select_related objects (theirs would be lost)."""
        if self.names is not None or self.populators:
            raise ValueError("only querysets of model instances without select_related objects")
        columns = {name: self.start + i for i, name in enumerate(self.init_list)}
        columns.update(self.annotations)
        return columns, list(self._rows(values))

    def _rows(self, values: dict[Any, Any]) -> Iterator[Sequence[Any]]:
        """The statement's rows for these values of the stand-ins, each value converted by the compiler."""
        params = list(self.params)
        for i in self.where:
            params[i] = values[params[i]]
        with connections[self.db].cursor() as cursor:
            cursor.execute(self.sql, params)
            fetched = cursor.fetchall()
        return self.compiler.results_iter([fetched])


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
