"""The patient page's reads of its own panels, in SQL of their own (issue #16).

Building an ORM query cost the patient page more CPU than running it: on the chain (dw_chain_1m) the page's
queries took ≈ 12 ms of its ≈ 43 ms of CPU to build (a visit row names 39 columns, twice in a UNION; a
select_related user another 11), and ≈ 4 ms of that was the visits. These statements are built once per process,
from the models' own table and column names (every value is a parameter), and give the rows the ORM gave: the same
model instances with every column, and where a panel shows who did something, the user with only their username
loaded (the rest deferred, as `.only()` would leave it). tests/web/test_pp_reads.py holds each equal to the ORM
query it replaces, and the page's HTML equal to the page that made those.

The dosing guard's own reads (visits.selectors.guard_doses) are not here: it reads them as every completion does.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

from auditlog.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Model, prefetch_related_objects

from notifications.models import Message
from scheduler import engine
from scheduler.models import Closure, DoseOrder, DosingWindow, Patient, Plan
from scheduler.selectors import window_value
from visits.models import Escalation, OutreachCall, StaffTask, Visit

NEXT_VISITS = 10
TAKE_HOMES_SHOWN = 20
MESSAGES_SHOWN = 20
# What the "Take-homes handed out" list shows of each visit (web.selectors.TAKE_HOME_FIELDS: the same columns).
TAKE_HOME_COLUMNS = ("id", "patient_id", "plan_id", "date", "status", "take_home_doses", "covered_through",
                     "bottles_returned", "completed_by_id")


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _column_names(model: type[Model]) -> list[str]:
    return [str(f.column) for f in model._meta.concrete_fields]


def _columns(model: type[Model], alias: str, only: tuple[str, ...] | None = None) -> str:
    """Every concrete column of `model` (or those of `only`), qualified by `alias`."""
    names = _column_names(model) if only is None else list(only)
    return ", ".join(f"{alias}.{_q(n)}" for n in names)


def _from_row(model: type[Model], values: list[Any]) -> Any:
    """A `model` instance from its columns' raw values (every concrete field, in order), converted as a query of
    the model converts them (JSON parsed, say)."""
    fields = model._meta.concrete_fields
    converted = []
    for field, value in zip(fields, values, strict=True):
        col = field.get_col(model._meta.db_table)
        for convert in [*connection.ops.get_db_converters(col), *col.get_db_converters(connection)]:
            value = convert(value, col, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], converted)


def _user(pk: int | None, username: str | None) -> Any:
    """The user as a select_related(...).only("…__username") would give it: the id and the username loaded."""
    if pk is None:
        return None
    user = get_user_model()
    return user.from_db(connection.alias, ["id", user.USERNAME_FIELD], [pk, username])


@cache
def _plans_sql() -> str:
    user = get_user_model()
    return f"""
        SELECT {_columns(Plan, "p")}, u.{_q(user.USERNAME_FIELD)} AS approver_username,
               u.first_name AS approver_first_name, u.last_name AS approver_last_name
        FROM {_q(Plan._meta.db_table)} p LEFT JOIN {_q(user._meta.db_table)} u ON u.id = p.takehome_approved_by_id
        WHERE p.patient_id = %s ORDER BY p.status DESC, p.id ASC"""  # noqa: S608


def patient_plans(*, patient: Patient) -> list[Plan]:
    """Every plan of the patient (by status, then id: active ones after paused, ended first), its pauses prefetched
    and who approved its take-homes (their username and name loaded): what
    `patient.plans.select_related("takehome_approved_by").prefetch_related("pauses")` read."""
    plans = list(Plan.objects.raw(_plans_sql(), [patient.pk]))
    for p in plans:
        p.patient = patient  # as patient.plans gives them: the page's patient, its clinic and rule set loaded
        p.takehome_approved_by = _named_user(p, "takehome_approved_by_id", "approver")
    prefetch_related_objects(plans, "pauses")
    return plans


def _named_user(row: Any, key: str, prefix: str) -> Any:
    """The user a row names by `key`, with the username and name the row carried as `<prefix>_username`,
    `<prefix>_first_name` and `<prefix>_last_name` loaded (get_full_name works, the rest is deferred)."""
    pk = getattr(row, key)
    if pk is None:
        return None
    user = get_user_model()
    values = [getattr(row, f"{prefix}_{name}") for name in ("username", "first_name", "last_name")]
    return user.from_db(connection.alias, ["id", user.USERNAME_FIELD, "first_name", "last_name"], [pk, *values])


@cache
def _orders_sql(plans: int) -> str:
    user = get_user_model()
    return f"""
        SELECT {_columns(DoseOrder, "o")}, u.{_q(user.USERNAME_FIELD)} AS author_username,
               u.first_name AS author_first_name, u.last_name AS author_last_name
        FROM {_q(DoseOrder._meta.db_table)} o LEFT JOIN {_q(user._meta.db_table)} u ON u.id = o.created_by_id
        WHERE o.plan_id IN ({", ".join(["%s"] * plans)})
        ORDER BY o.effective_date ASC, o.created ASC, o.id ASC"""  # noqa: S608


def dose_orders(*, plan_ids: list[int]) -> list[DoseOrder]:
    """The plans' dose orders, oldest in force first, with who wrote each (username and name loaded): what
    `DoseOrder.objects.filter(plan_id__in=…).select_related("created_by")` in that order read."""
    if not plan_ids:
        return []
    orders = list(DoseOrder.objects.raw(_orders_sql(len(plan_ids)), plan_ids))
    for order in orders:
        order.created_by = _named_user(order, "created_by_id", "author")
    return orders


def clinic_calendar(clinic: Any, windows: list[DosingWindow]) -> engine.Calendar:
    """calendar_for_clinic(clinic, windows=windows): the closures read as the three values the engine keeps of
    each, not as rows (a chain clinic has dozens; each row parsed two timestamps and its JSON into a model)."""
    closures = Closure.objects.filter(clinic=clinic).values_list("date", "services", "reason")
    return engine.Calendar(
        tz=clinic.timezone,
        windows=tuple(window_value(w) for w in windows),
        closures=tuple(engine.Closure(date=d, services=frozenset(s), reason=r) for d, s, r in closures),
    )


@cache
def _strip_and_next_sql(plans: int) -> str:
    visit = _q(Visit._meta.db_table)
    placeholders = ", ".join(["%s"] * plans)
    return f"""
        (SELECT {_columns(Visit, "v")}, 0 AS part FROM {visit} v
         WHERE v.plan_id IN ({placeholders}) AND v.date BETWEEN %s AND %s AND NOT (v.status = 'cancelled'))
        UNION ALL
        (SELECT {_columns(Visit, "v")}, 1 AS part FROM {visit} v
         WHERE v.patient_id = %s AND v.date >= %s AND v.status IN ('scheduled', 'checked_in')
         ORDER BY v.date ASC, v.start ASC, v.id ASC LIMIT %s)
        ORDER BY part, {_q("date")}, {_q("start")}, {_q("id")}"""  # noqa: S608


def strip_and_next_visits(
    *,
    patient: Patient,
    plans: list[Plan],
    windows: list[DosingWindow],
    date_from: date,
    date_to: date,
    today: date,
    limit: int = NEXT_VISITS,
) -> tuple[list[Visit], list[Visit]]:
    """The strip's visits (the plans not ended: theirs from `date_from` to `date_to`, cancelled ones left out) and
    the next visits (patient_next_visits': scheduled or checked in from `today` on, by date, start and id), in one
    statement. `plans`: every plan of the patient, as the page read them; the next visits get theirs from it and
    their windows from `windows` (the clinic's, read for the strip's calendar) instead of a join. A plan or window
    not among them (none should be) is read when asked for."""
    shown = [p.pk for p in plans if p.status != "ended"]
    if not shown:
        raise ValueError("the strip needs a plan that has not ended")
    params = [*shown, date_from, date_to, patient.pk, today, limit]
    strip: list[Visit] = []
    upcoming: list[Visit] = []
    for v in Visit.objects.raw(_strip_and_next_sql(len(shown)), params):
        (strip if v.part == 0 else upcoming).append(v)  # type: ignore[attr-defined]
    by_plan = {p.pk: p for p in plans}
    by_window = {w.pk: w for w in windows}
    for v in upcoming:
        if v.plan_id in by_plan:
            v.plan = by_plan[v.plan_id]
        if v.window_id in by_window:
            v.window = by_window[v.window_id]
    return strip, upcoming


@cache
def _take_homes_sql() -> str:
    user = get_user_model()
    return f"""
        SELECT {_columns(Visit, "v", TAKE_HOME_COLUMNS)}, u.{_q(user.USERNAME_FIELD)} AS completed_by_username
        FROM {_q(Visit._meta.db_table)} v LEFT JOIN {_q(user._meta.db_table)} u ON u.id = v.completed_by_id
        WHERE v.patient_id = %s AND v.status = 'completed' AND v.take_home_doses > 0
        ORDER BY v.date DESC, v.id DESC LIMIT %s"""  # noqa: S608


def patient_take_homes(*, patient: Patient, limit: int = TAKE_HOMES_SHOWN) -> list[Visit]:
    """web.selectors.patient_take_homes' rows: the newest visits that handed out take-homes, only the columns the
    list shows, with who completed them."""
    rows = list(Visit.objects.raw(_take_homes_sql(), [patient.pk, limit]))
    for v in rows:
        v.completed_by = _user(v.completed_by_id, v.completed_by_username)  # type: ignore[attr-defined]
    return rows


@cache
def _escalations_sql() -> str:
    user = get_user_model()
    return f"""
        SELECT {_columns(Escalation, "e")}, u.{_q(user.USERNAME_FIELD)} AS resolved_by_username
        FROM {_q(Escalation._meta.db_table)} e LEFT JOIN {_q(user._meta.db_table)} u ON u.id = e.resolved_by_id
        WHERE e.patient_id = %s
        ORDER BY e.resolved_at DESC NULLS FIRST, e.created DESC, e.id DESC LIMIT %s"""  # noqa: S608


def patient_escalations(*, patient: Patient, plans: list[Plan], limit: int) -> list[Escalation]:
    """The patient's escalations, open ones first, then the latest resolved (newest first), at most `limit`: each
    with its plan (from `plans`, every plan of the patient) and who resolved it (the username loaded)."""
    rows = list(Escalation.objects.raw(_escalations_sql(), [patient.pk, limit]))
    by_plan = {p.pk: p for p in plans}
    for e in rows:
        if e.plan_id in by_plan:
            e.plan = by_plan[e.plan_id]
        e.resolved_by = _user(e.resolved_by_id, e.resolved_by_username)  # type: ignore[attr-defined]
    return rows


@cache
def _messages_sql() -> str:
    return f"""
        SELECT {_columns(Message, "m")} FROM {_q(Message._meta.db_table)} m
        WHERE m.patient_id = %s ORDER BY m.scheduled_for DESC, m.id DESC LIMIT %s"""  # noqa: S608


def patient_messages(*, patient: Patient, limit: int = MESSAGES_SHOWN) -> list[Message]:
    """web.selectors.patient_messages' rows: the patient's newest text messages."""
    return list(Message.objects.raw(_messages_sql(), [patient.pk, limit]))


@cache
def _tasks_sql() -> str:
    visit_columns = ", ".join(f"v.{_q(c)} AS {_q('visit__' + c)}" for c in _column_names(Visit))
    return f"""
        SELECT {_columns(StaffTask, "t")}, {visit_columns}
        FROM {_q(StaffTask._meta.db_table)} t LEFT JOIN {_q(Visit._meta.db_table)} v ON v.id = t.visit_id
        WHERE t.patient_id = %s AND t.done_at IS NULL ORDER BY t.created ASC, t.id ASC"""  # noqa: S608


def patient_open_tasks(*, patient: Patient) -> list[StaffTask]:
    """The patient's open front-desk tasks, oldest first, each with its visit (every column, as select_related
    gives it)."""
    fields = Visit._meta.concrete_fields
    rows = list(StaffTask.objects.raw(_tasks_sql(), [patient.pk]))
    for t in rows:
        if t.visit_id is not None:
            t.visit = _from_row(Visit, [getattr(t, "visit__" + str(f.column)) for f in fields])
    return rows


def log_entries(records: list[tuple[int, list[str]]], *, limit: int) -> list[LogEntry]:
    """The change history (django-auditlog's entries, access entries left out) of the records named by content
    type id and object pks, newest first, at most `limit`: each with its content type (ContentType's cache) and
    its actor (the username loaded), as `.select_related("actor", "content_type")` gave them."""
    records = [(ct, pks) for ct, pks in records if pks]
    if not records:
        return []
    user = get_user_model()
    which = " OR ".join(
        f"(l.content_type_id = %s AND l.object_pk IN ({', '.join(['%s'] * len(pks))}))" for _, pks in records
    )
    sql = f"""
        SELECT {_columns(LogEntry, "l")}, u.{_q(user.USERNAME_FIELD)} AS actor_username
        FROM {_q(LogEntry._meta.db_table)} l LEFT JOIN {_q(user._meta.db_table)} u ON u.id = l.actor_id
        WHERE ({which}) AND NOT (l.action = %s)
        ORDER BY l.timestamp DESC, l.id DESC LIMIT %s"""  # noqa: S608
    params: list[Any] = [value for ct, pks in records for value in (ct, *pks)]
    entries = list(LogEntry.objects.raw(sql, [*params, LogEntry.Action.ACCESS, limit]))
    for entry in entries:
        entry.content_type = ContentType.objects.get_for_id(entry.content_type_id)
        entry.actor = _user(entry.actor_id, entry.actor_username)  # type: ignore[attr-defined]
    return entries


@cache
def _windows_sql() -> str:
    return f"""
        SELECT {_columns(DosingWindow, "w")} FROM {_q(DosingWindow._meta.db_table)} w
        WHERE w.clinic_id = %s ORDER BY w.start ASC, w.id ASC"""  # noqa: S608


def clinic_windows(*, clinic: Any) -> list[DosingWindow]:
    """`DosingWindow.objects.filter(clinic=clinic)`'s rows, in the model's order (start, id)."""
    windows = list(DosingWindow.objects.raw(_windows_sql(), [clinic.pk]))
    for w in windows:
        w.clinic = clinic  # as the filter on the clinic left it: read when asked for; here at hand
    return windows


@cache
def _calls_sql() -> str:
    user = get_user_model()
    return f"""
        SELECT {_columns(OutreachCall, "c")}, u.{_q(user.USERNAME_FIELD)} AS by_username
        FROM {_q(OutreachCall._meta.db_table)} c LEFT JOIN {_q(user._meta.db_table)} u ON u.id = c.by_id
        WHERE c.patient_id = %s ORDER BY c.created DESC, c.id DESC LIMIT %s"""  # noqa: S608


def patient_outreach_calls(*, patient: Patient, limit: int) -> list[OutreachCall]:
    """The patient's newest outreach calls, with who made each (the username loaded): what
    `patient.outreach_calls.select_related("by")[:limit]` read."""
    calls = list(OutreachCall.objects.raw(_calls_sql(), [patient.pk, limit]))
    for call in calls:
        call.by = _user(call.by_id, call.by_username)  # type: ignore[attr-defined]
    return calls
