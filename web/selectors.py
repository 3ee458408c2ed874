"""Reads for the staff pages. Counts come from conditional aggregation (one query per chart),
never from a query per row; the patient strip asks the engine, like the plan calendar does."""

from __future__ import annotations

import hashlib
import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from auditlog.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db import connection
from django.db.models import (
    Count,
    DateField,
    Exists,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, TruncTime
from django.utils import timezone

from notifications.models import Message
from scheduler import engine
from scheduler.models import MEDICATION_CHOICES, Clinic, DoseOrder, Patient, Pause, Plan
from scheduler.prepared import AS_CLINIC, AS_DAY, AS_WINDOW, prepared
from scheduler.rules import INJECTIONS, Rules
from scheduler.selectors import calendar_for_clinic, plan_spec, rules_for_clinic
from scheduler.timeutil import local_date
from visits import guard
from visits.models import Assessment, Escalation, StaffTask, Visit
from visits.reports import (  # noqa: F401 - re-exported for the dashboard views
    _rate,
    attendance_by_medication,
    attendance_by_patient,
    attendance_by_week,
    attendance_summary,
    consecutive_missed,
    injection_on_time,
    missed_heatmap,
)
from visits.selectors import dose_blockers, first_injection_from, share_of, split_session
from visits.selectors import planned_take_homes as ledger_planned_take_homes
from web import patient_reads

logger = logging.getLogger(__name__)
SEARCH_LIMIT = 20
MEDICATION_LABELS = dict(MEDICATION_CHOICES)


def clinic_today(clinic: Clinic) -> date:
    return local_date(timezone.now(), clinic.timezone)


# --- today board -------------------------------------------------------------------------------
# Whether a row's dose may be given is the dosing guard's answer alone (visits.selectors.dose_blockers), read
# before anyone clicks; the page never decides it (STYLE.md: never let a rule live only in a page).

# The guard's refusal for an open hold, clinician review, re-induction or re-titration (visits.guard._on_hold)
# opens with these words: the board names such rows "On hold", every other refusal "Blocked".
HOLD_REFUSAL = "plan on hold"
BOARD_STATES = ("expected", "on_hold", "blocked", "checked_in", "completed", "missed", "excused")


def _on_clinic(visits: list[Visit], clinic: Clinic) -> list[Visit]:
    """One clinic object (and its rule set, loaded once) for every row: the guard reads the rule set per row."""
    for visit in visits:
        visit.clinic = clinic
    return visits


BOARD_PAGE_SIZE = 25  # rows a page of the board shows (issue #16: a page's cost is bounded, whatever the day)
BOARD_ORDER = (
    F("slot_start").asc(nulls_last=True), F("slot_end").asc(nulls_last=True), "slot_id", "patient__last_name", "id"
)
ROW_STATUSES = ("scheduled", "checked_in", "completed", "missed", "excused")


def _board_rows(clinic: Clinic, day: date, window_id: int | None = None) -> QuerySet[Visit]:
    """The day's rows (cancelled left out), each with its slot: its window, else its booked local start, else none."""
    booked = TruncTime("start", tzinfo=ZoneInfo(clinic.timezone))
    qs = Visit.objects.filter(clinic=clinic, date=day).exclude(status="cancelled")
    if window_id is not None:
        qs = qs.filter(window_id=window_id)
    return qs.annotate(
        slot_start=Coalesce(F("window__start"), booked),
        slot_end=Coalesce(F("window__end"), booked),
        slot_id=Coalesce(F("window_id"), Value(0)),
    )


def _with_row_facts(qs: QuerySet[Visit], day: date) -> QuerySet[Visit]:
    qs = qs.select_related("patient", "plan")  # a row's window is its slot, annotated by _board_rows
    # Issue #14 (board_doses): each row's plan's last completed dose before the day and whether the plan has a
    # completed dose at all, in the same query as the rows.
    completed = Visit.objects.filter(plan_id=OuterRef("plan_id"), status="completed")
    return qs.annotate(
        prior_dose_date=Subquery(
            completed.filter(date__lt=day).order_by("-date").values("date")[:1], output_field=DateField()
        ),
        plan_has_dose=Exists(completed),
    )


def board_visits(*, clinic: Clinic, day: date) -> list[Visit]:
    """Every row of the day in board order (window, then name)."""
    qs = _with_row_facts(_board_rows(clinic, day), day).order_by(*BOARD_ORDER)
    return _on_clinic(list(qs), clinic)


@dataclass(frozen=True)
class BoardSlot:
    """A heading of the board: a window (or a booked time, or no window) and its rows by status, the whole day."""

    key: tuple[Any, Any, int]
    label: str
    window_id: int | None
    statuses: dict[str, int]

    @property
    def count(self) -> int:
        return sum(self.statuses.values())


def _slot_label(start: Any, end: Any, window_id: int, first_end: datetime | None, tz: ZoneInfo) -> str:
    if window_id:
        return f"{start:%H:%M}–{end:%H:%M}"
    if start is None:
        return "No window"
    return f"Booked {start:%H:%M}" + (f"–{first_end.astimezone(tz):%H:%M}" if first_end else "")


def board_slots(*, clinic: Clinic, day: date) -> list[BoardSlot]:
    """The day's headings in board order with their rows counted by status: one aggregate query, no row loaded."""
    return board_day(clinic=clinic, day=day)[0]


def board_day_query(*, clinic: Clinic, day: date) -> QuerySet[Any]:
    """The day's rows counted by slot and status, with the day's stamp."""
    grouped = (
        _board_rows(clinic, day)  # type: ignore[misc]
        .values("slot_start", "slot_end", "slot_id", "status")
        .annotate(n=Count("id"), first_end=Min("end"))
        .order_by()
    )
    # The stamp: a constant subquery (run once), aggregated so that it is not grouped by. The SQL is a constant with
    # the tables' names; the clinic and day go as parameters.
    return grouped.annotate(stamp=Min(RawSQL(*_stamp_sql(clinic, day), output_field=TextField())))  # noqa: S611


def board_day(*, clinic: Clinic, day: date) -> tuple[list[BoardSlot], str | None]:
    """board_slots, and the day's stamp (board_stamp) read in the same query (None: no rows). The query is compiled
    once per zone (scheduler.prepared), as the page's is."""
    tz = ZoneInfo(clinic.timezone)
    query = prepared(("board_day", clinic.timezone),
                     lambda: board_day_query(clinic=Clinic(pk=AS_CLINIC, timezone=clinic.timezone), day=AS_DAY))
    grouped = query.run({AS_CLINIC: clinic.pk, AS_DAY: day})
    slots: dict[tuple[Any, Any, int], dict[str, Any]] = {}
    stamp = None
    for row in grouped:
        stamp = _stamp_of(clinic, row["stamp"])
        key = (row["slot_start"], row["slot_end"], row["slot_id"])
        slot = slots.setdefault(key, {"statuses": {}, "first_end": row["first_end"]})
        slot["statuses"][row["status"]] = row["n"]
        if row["first_end"] is not None and (slot["first_end"] is None or row["first_end"] < slot["first_end"]):
            slot["first_end"] = row["first_end"]
    headings = [
        BoardSlot(
            key=key, label=_slot_label(*key, slots[key]["first_end"], tz), window_id=key[2] or None,
            statuses=slots[key]["statuses"],
        )
        for key in sorted(slots, key=_slot_order)
    ]
    return headings, stamp


def _slot_order(key: tuple[Any, Any, int]) -> tuple[int, str, str, int]:
    start, end, pk = key
    if start is None:
        return (1, "", "", pk)
    return (0, start.isoformat(), end.isoformat() if end else "", pk)


def status_counts(slots: list[BoardSlot]) -> dict[str, int]:
    """The whole day's rows by status (from board_slots' aggregate): scheduled rows are not yet split by the guard."""
    counts = dict.fromkeys(ROW_STATUSES, 0)
    for slot in slots:
        for status, n in slot.statuses.items():
            counts[status] = counts.get(status, 0) + n
    counts["total"] = sum(slot.count for slot in slots)
    return counts


# The columns a page's rows are read with (issue #16: a row's whole visit and patient, a dozen timestamps each, were
# decoded to print a few of them). What a row prints, offers and asks the guard, the amount due and the screen form
# read; the plan whole (the ledger's take-homes at a checked-in row read its calendar). A column left out here is
# loaded one query a row if read: tests/web/test_board_columns.py renders every row state for every role and fails
# on any such load.
BOARD_ROW_FIELDS = (
    "id", "patient_id", "clinic_id", "plan_id", "kind", "date", "status", "source", "session",
    "expected_take_home_doses", "take_home_doses", "dose_mg", "dose_reason", "take_home_mg", "drug_screen",
    "drug_screen_result", "drug_screen_substances", "callback_bottles_handed_out", "callback_bottles_brought",
    "patient__id", "patient__mrn", "patient__first_name", "patient__last_name", "patient__date_of_birth",
    *(f"plan__{f.attname}" for f in Plan._meta.concrete_fields),
)


def board_page_query(*, clinic: Clinic, day: date, page: int, window_id: int | None = None) -> QuerySet[Visit]:
    """The query of one page of the board's rows (1-based), in board order, with what each row shows."""
    start = (page - 1) * BOARD_PAGE_SIZE
    # The page's ids first (an inner query sorting bare rows), so the per-row subqueries run for its rows only.
    ids = _board_rows(clinic, day, window_id).order_by(*BOARD_ORDER).values("id")[start:start + BOARD_PAGE_SIZE]
    rows = _with_row_facts(_board_rows(clinic, day).filter(id__in=Subquery(ids)), day)
    return rows.only(*BOARD_ROW_FIELDS).order_by(*BOARD_ORDER)


def board_page(*, clinic: Clinic, day: date, page: int, window_id: int | None = None) -> list[Visit]:
    """board_page_query's rows: one query, compiled once per zone, page and filter (scheduler.prepared: building and
    compiling this query, two copies of the day's rows with their slots, the per-row subqueries and three tables'
    columns, took more CPU than PostgreSQL took to run it, on every page a screen loads)."""
    def build() -> QuerySet[Visit]:
        stand_in = Clinic(pk=AS_CLINIC, timezone=clinic.timezone)
        return board_page_query(clinic=stand_in, day=AS_DAY, page=page,
                                window_id=AS_WINDOW if window_id is not None else None)

    query = prepared(("board_page", clinic.timezone, page, window_id is not None), build)
    return _on_clinic(query.run({AS_CLINIC: clinic.pk, AS_DAY: day, AS_WINDOW: window_id}), clinic)


def board_page_of(*, clinic: Clinic, day: date, visit_id: int, window_id: int | None = None) -> int | None:
    """The page (1-based) holding a row of the day, or None when it is not on the board: one query of ids."""
    ids = list(_board_rows(clinic, day, window_id).order_by(*BOARD_ORDER).values_list("id", flat=True))
    if visit_id not in ids:
        return None
    return ids.index(visit_id) // BOARD_PAGE_SIZE + 1


def board_blockers(*, visits: list[Visit]) -> dict[int, str]:
    """The guard's refusal for each open dose or injection row, as if it were completed now (three queries)."""
    return dose_blockers(visits=visits, now=timezone.now())


def board_state(visit: Visit, blockers: dict[int, str]) -> str:
    """A scheduled row is expected, on hold or blocked by the guard; any other row shows its status."""
    if visit.status != "scheduled":
        return visit.status
    reason = blockers.get(visit.pk)
    if reason is None:
        return "expected"
    return "on_hold" if reason.startswith(HOLD_REFUSAL) else "blocked"


def count_states(visits: list[Visit], blockers: dict[int, str]) -> dict[str, int]:
    counts = dict.fromkeys(BOARD_STATES, 0)
    for visit in visits:
        state = board_state(visit, blockers)
        counts[state] = counts.get(state, 0) + 1
    counts["total"] = len(visits)
    return counts


# --- the board's shared per-clinic facts (issue #16) ---------------------------------------------------------
# Every open board screen polls the live counts every 15 s, and each count of "on hold" and "blocked" is the guard's
# verdict on every open row of the day. The verdicts (and the take-homes a checked-in row is held to) are computed
# once and shared by every screen and page of the clinic through the cache, under a stamp of what they are read from
# that any write moves, so a check-in, a completion, a sweep or a resolved hold shows at the next poll. Only the
# passing of time (a session interval running out) waits for the entry to expire: at most BOARD_CACHE_SECONDS. The
# guard itself still decides every completion (visits.services); this is what the pages show before anyone clicks.
BOARD_CACHE_SECONDS = 15

# PostgreSQL: every write to a row makes a new row version with its own xmin (the writing transaction), so a hash of
# (id, xmin) over the day's rows changes with any write, whoever makes it (services, the sweep's SQL, the admin) and
# whatever the writers' clocks say. The database's own id: a test database made again (ids and frozen times repeat)
# never reads another's entries.
_STAMP_SQL = """
(SELECT concat_ws('|', (SELECT oid FROM pg_database WHERE datname = current_database()), v.n, v.h, e.n, e.h)
 FROM (SELECT count(*) AS n, md5(string_agg(id::text || '.' || xmin::text, ',' ORDER BY id)) AS h FROM {visits}
       WHERE clinic_id = %s AND date = %s) AS v,
      (SELECT count(*) AS n, md5(string_agg(id::text || '.' || xmin::text, ',' ORDER BY id)) AS h FROM {escalations}
       WHERE clinic_id = %s AND resolved_at IS NULL) AS e)
"""


def _stamp_sql(clinic: Clinic, day: date) -> tuple[str, list[Any]]:
    sql = _STAMP_SQL.format(visits=Visit._meta.db_table, escalations=Escalation._meta.db_table)
    return sql, [clinic.pk, day, clinic.pk]


def _stamp_of(clinic: Clinic, read: Any) -> str:
    rule_set = getattr(clinic, "rule_set", None) if clinic.rule_set_id is not None else None
    parts = (read, clinic.updated, getattr(rule_set, "updated", None))
    return hashlib.sha1(repr(parts).encode(), usedforsecurity=False).hexdigest()


def board_stamp(*, clinic: Clinic, day: date) -> str:
    """What the day's verdicts are read from, as a string any write changes: the day's visits (a row added, removed
    or written), the clinic's open escalations (opened, resolved or edited) and the clinic and its rule set (loaded
    with the clinic). One query (none more for the board: board_day reads it with the headings)."""
    sql, params = _stamp_sql(clinic, day)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {sql}", params)
        row = cursor.fetchone()
    return _stamp_of(clinic, row[0])


def _shared_get(key: str) -> Any:
    """A shared entry, or None; the board and its counts never fail because the cache (Redis) does: they compute."""
    try:
        return cache.get(key)
    except Exception:  # noqa: BLE001 - redis-py's errors (connection, timeout) and a bad entry alike
        logger.warning("board cache unavailable: computing the board's facts", exc_info=True)
        return None


def _shared_set(key: str, value: Any) -> None:
    try:
        cache.set(key, value, BOARD_CACHE_SECONDS)
    except Exception:  # noqa: BLE001
        logger.warning("board cache unavailable: the board's facts are not shared", exc_info=True)


def _board_key(kind: str, clinic: Clinic, day: date, stamp: str, extra: str = "") -> str:
    return f"dosewise:board:{kind}:{clinic.pk}:{day.isoformat()}:{stamp}{extra}"


@dataclass(frozen=True)
class DayVerdicts:
    """The guard's refusal for every open dose or injection row of a clinic's day, and the day's counts by state."""

    counts: dict[str, int]
    blockers: dict[int, str]
    # The open escalations of the day's patients (the stamp covers every open escalation of the clinic): a page's
    # alerts read from here, not with a query of their own (issue #16).
    escalations: dict[int, list[Escalation]]


def _day_verdicts_computed(clinic: Clinic, day: date) -> DayVerdicts:
    """One query for the day's rows (only what the guard reads), the guard's three and the open escalations."""
    qs = (
        Visit.objects.filter(clinic=clinic, date=day)
        .exclude(status="cancelled")
        .select_related("plan")
        .only(
            "id", "status", "kind", "date", "patient_id", "clinic_id", "plan__id", "plan__medication",
            "plan__doses_per_day", "plan__min_interval_minutes", "plan__interval_days",
        )
    )
    visits = _on_clinic(list(qs), clinic)
    blockers = board_blockers(visits=visits)
    escalations = open_escalations_by_patient(clinic=clinic, patient_ids=sorted({v.patient_id for v in visits}))
    return DayVerdicts(counts=count_states(visits, blockers), blockers=blockers, escalations=dict(escalations))


def day_verdicts(*, clinic: Clinic, day: date, stamp: str | None = None, compute: bool = True) -> DayVerdicts | None:
    """The day's verdicts, shared through the cache under the day's stamp (computed and stored on a miss, or None
    with `compute=False`)."""
    # v2: with the escalations (an entry of the earlier shape is never read back).
    key = _board_key("verdicts-v2", clinic, day, stamp or board_stamp(clinic=clinic, day=day))
    found = _shared_get(key)
    if found is None and compute:
        found = _day_verdicts_computed(clinic, day)
        _shared_set(key, found)
    return found


def board_counts(*, clinic: Clinic, day: date) -> dict[str, int]:
    """The live counts: the guard's verdict on every open row of the day, computed once for all of the clinic's
    screens until a write changes the day (or BOARD_CACHE_SECONDS pass)."""
    verdicts = day_verdicts(clinic=clinic, day=day)
    assert verdicts is not None
    return dict(verdicts.counts)


def shared_verdicts(*, clinic: Clinic, day: date, stamp: str | None) -> DayVerdicts | None:
    """The day's verdicts if another request has computed them under this stamp (a page never waits for the whole
    day's), else None. No stamp: no rows."""
    return day_verdicts(clinic=clinic, day=day, stamp=stamp, compute=False) if stamp is not None else None


def _page_key(clinic: Clinic, day: date, visits: list[Visit], stamp: str) -> str:
    """A page's own entry: under the day's stamp, the minute (the guard's words count the minutes since a session,
    and a test's clock moves where the cache's does not) and everything of its rows the guard reads that the stamp
    does not cover (a row's status read after the stamp, its plan's facts)."""
    rows = ";".join(
        f"{v.pk}.{v.status}.{v.kind}.{v.patient_id}.{v.date}"
        + (f".{p.pk}.{p.medication}.{p.doses_per_day}.{p.min_interval_minutes}.{p.interval_days}"
           if (p := v.plan) is not None else ".")
        for v in visits
    )
    now = timezone.now()
    digest = hashlib.sha1(f"{now:%Y-%m-%dT%H:%M}|{rows}".encode(), usedforsecurity=False).hexdigest()
    return _board_key("page-v1", clinic, day, stamp, ":" + digest)


def page_verdicts(*, clinic: Clinic, day: date, visits: list[Visit], stamp: str | None) -> DayVerdicts | None:
    """The guard's refusals for a page's open rows and its patients' open escalations, shared through the cache by
    every screen showing this page (issue #16: without a screen polling the counts, each page asked the guard
    again, a third of the board's CPU) until a write changes the day, the minute turns or BOARD_CACHE_SECONDS
    pass. None without a stamp (no rows). Never stored as the day's verdicts: it holds this page's rows alone."""
    if stamp is None:
        return None
    key = _page_key(clinic, day, visits, stamp)
    found = _shared_get(key)
    if found is None:
        escalations = open_escalations_by_patient(clinic=clinic, patient_ids=[v.patient_id for v in visits])
        found = DayVerdicts(counts={}, blockers=board_blockers(visits=visits), escalations=dict(escalations))
        _shared_set(key, found)
    return found


_UNREAD: Any = object()


def page_blockers(
    *, clinic: Clinic, day: date, visits: list[Visit], stamp: str | None, verdicts: DayVerdicts | None = _UNREAD
) -> dict[int, str]:
    """The guard's refusal for a page's open rows: the day's shared verdicts when they are current (`verdicts`, when
    the caller has read them with shared_verdicts), else the guard asked for the page's rows alone."""
    if verdicts is _UNREAD:
        verdicts = shared_verdicts(clinic=clinic, day=day, stamp=stamp)
    if verdicts is None:
        return board_blockers(visits=visits)
    # Open rows only, as the guard is asked (a row completed since the headings were read shows no refusal).
    return {v.pk: verdicts.blockers[v.pk] for v in visits
            if v.pk in verdicts.blockers and v.status in ("scheduled", "checked_in")}


def planned_take_homes(*, clinic: Clinic, visits: list[Visit], stamp: str | None = None) -> dict[int, int]:
    """The take-homes the plan's calendar expects at each open oral dose row: the number the guard holds a
    completion to (API.md v1.1), shown next to the field before anyone clicks.

    A checked-in row (the patient is at the window) gets the ledger's own live computation (re-admission,
    suspended take-homes, closures since generation) in a fixed number of queries for the whole board; it runs
    the engine once a row, so a scheduled row shows what generation stored from the same calendar instead
    (a board of 1,800 rows stays fast). With the day's `stamp` the ledger's answers are shared through the cache
    (keyed by the rows asked about) until a write changes the day or BOARD_CACHE_SECONDS pass."""
    checked_in = [v for v in visits if v.status == "checked_in"]
    planned = {
        v.pk: v.expected_take_home_doses
        for v in visits
        if v.status == "scheduled" and v.kind == "dose" and v.plan is not None and v.plan.medication in guard.ORAL
    }
    if not checked_in:
        return planned
    key = None
    if stamp is not None:
        ids = ",".join(str(v.pk) for v in sorted(checked_in, key=lambda v: v.pk))
        key = _board_key("planned", clinic, checked_in[0].date, stamp, ":" + hashlib.sha1(
            ids.encode(), usedforsecurity=False).hexdigest())
        found = _shared_get(key)
        if found is not None:
            return {**planned, **found}
    ledger = ledger_planned_take_homes(clinic=clinic, visits=checked_in, rules=rules_for_clinic(clinic))
    if key is not None:
        _shared_set(key, ledger)
    return {**planned, **ledger}


def open_escalations_by_patient(*, clinic: Clinic, patient_ids: list[int]) -> dict[int, list[Escalation]]:
    grouped: dict[int, list[Escalation]] = defaultdict(list)
    qs = Escalation.objects.filter(clinic=clinic, patient_id__in=patient_ids, resolved_at__isnull=True)
    for esc in qs.order_by("created", "id"):
        grouped[esc.patient_id].append(esc)
    return grouped


def page_escalations(
    *, clinic: Clinic, visits: list[Visit], verdicts: DayVerdicts | None
) -> dict[int, list[Escalation]]:
    """The open escalations of a page's patients: from the day's shared verdicts when they are current (the same
    stamp covers them), else one query."""
    patient_ids = [v.patient_id for v in visits]
    if verdicts is None:
        return open_escalations_by_patient(clinic=clinic, patient_ids=patient_ids)
    return {pk: verdicts.escalations[pk] for pk in patient_ids if pk in verdicts.escalations}


def open_escalations(*, clinic: Clinic) -> QuerySet[Escalation]:
    return (
        Escalation.objects.filter(clinic=clinic, resolved_at__isnull=True)
        .select_related("patient", "plan", "visit")
        .order_by("-consecutive_missed", "created", "id")
    )


OPEN_TASKS_SHOWN = 200


def open_tasks(*, clinic: Clinic) -> list[StaffTask]:
    """Open front-desk tasks (texts from patients, rejected numbers, guest-dosing requests), oldest first."""
    qs = StaffTask.objects.filter(clinic=clinic, done_at__isnull=True).select_related("patient", "visit")
    return list(qs.order_by("created", "id")[:OPEN_TASKS_SHOWN])


def open_task_count(*, clinic: Clinic) -> int:
    return StaffTask.objects.filter(clinic=clinic, done_at__isnull=True).count()


# --- patient search ------------------------------------------------------------------------------

_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%d.%m.%Y")


def _parse_dob(term: str) -> date | None:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(term, fmt).date()
        except ValueError:
            continue
    return None


def patient_search(*, clinic: Clinic, q: str) -> list[Patient]:
    """Prefix search on last name, first name or MRN, or an exact date of birth; at most 20 rows.

    Prefix (istartswith) rather than contains, so PostgreSQL can use an index on the columns.
    """
    term = q.strip()
    if len(term) < 2:
        return []
    base = Patient.objects.filter(clinic=clinic).only(
        "id", "clinic_id", "mrn", "first_name", "last_name", "date_of_birth", "sms_opted_out"
    )
    dob = _parse_dob(term)
    if dob is not None:
        return list(base.filter(date_of_birth=dob)[:SEARCH_LIMIT])
    words = [w for w in re.split(r"[\s,]+", term) if w]
    if len(words) >= 2:
        a, b = words[0], words[-1]
        cond = (Q(first_name__istartswith=a) & Q(last_name__istartswith=b)) | (
            Q(last_name__istartswith=a) & Q(first_name__istartswith=b)
        )
    else:
        cond = Q(last_name__istartswith=term) | Q(first_name__istartswith=term) | Q(mrn__istartswith=term)
    return list(base.filter(cond)[:SEARCH_LIMIT])


# --- patient page --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StripCell:
    date: date
    state: str  # attended | missed | take_home | closure | paused | expected | excused | none
    label: str


@dataclass(frozen=True)
class StripRow:
    plan: Plan
    cells: list[StripCell]
    error: str = ""


_STATE_LABELS = {
    "attended": "Attended",
    "missed": "Missed",
    "take_home": "Take-home day",
    "closure": "Closure (take-home)",
    "paused": "Paused",
    "expected": "Visit expected",
    "excused": "Excused",
    "none": "No visit",
}


def _cell_state(day: engine.Day, visits: list[Visit], today: date) -> str:
    statuses = {v.status for v in visits}
    if "completed" in statuses:
        return "attended"
    if "missed" in statuses:
        return "missed"
    if "excused" in statuses:
        return "excused"
    if day.pause_reason:
        return "paused"
    if day.expected == engine.CLOSURE_TAKE_HOME:
        return "closure"
    if day.expected == engine.TAKE_HOME:
        return "take_home"
    if day.expected == engine.VISIT or statuses & {"scheduled", "checked_in"}:
        return "expected" if day.date >= today else "missed"
    return "none"


def attendance_strip(
    *,
    patient: Patient,
    date_from: date,
    date_to: date,
    plans: list[Plan] | None = None,
    rules: Rules | None = None,
    calendar: engine.Calendar | None = None,
    visits_read: list[Visit] | None = None,
) -> list[StripRow]:
    """Per plan, one cell per date: the engine's expectation merged with the actual Visit rows. `plans` (the
    patient's, pauses prefetched), the clinic's `rules` and `calendar`, when the caller has them, save reading them
    again; so do `visits_read`: the plans' visits over the dates, cancelled ones left out (web.patient_reads)."""
    clinic = patient.clinic
    if plans is None:
        plans = list(patient.plans.prefetch_related("pauses"))
    plans = sorted((p for p in plans if p.status != "ended"), key=lambda p: p.pk)
    if not plans:
        return []
    calendar = calendar if calendar is not None else calendar_for_clinic(clinic)
    rules = rules if rules is not None else rules_for_clinic(clinic)
    visits: dict[tuple[int, date], list[Visit]] = defaultdict(list)
    if visits_read is None:
        visits_read = list(
            Visit.objects.filter(plan__in=plans, date__range=(date_from, date_to)).exclude(status="cancelled")
        )
    for v in visits_read:
        visits[(v.plan_id, v.date)].append(v)  # type: ignore[index]
    today = clinic_today(clinic)
    rows: list[StripRow] = []
    for plan in plans:
        try:
            spec = plan_spec(plan, pauses=list(plan.pauses.all()))
            days = engine.plan_days(spec, calendar, rules, date_from, date_to)
        except (engine.PlanNotSatisfiable, ValueError) as exc:
            rows.append(StripRow(plan=plan, cells=[], error=str(exc)))
            continue
        cells = []
        for day in days:
            state = _cell_state(day, visits.get((plan.pk, day.date), []), today)
            label = f"{day.date:%a %d %b}: {_STATE_LABELS[state]}" + (f" ({day.reason})" if day.reason else "")
            cells.append(StripCell(date=day.date, state=state, label=label))
        rows.append(StripRow(plan=plan, cells=cells))
    return rows


@dataclass(frozen=True)
class DosingToday:
    """One active plan on the patient page: whether a dose under it could be given today, in the guard's words."""

    plan: Plan
    visit: Visit | None  # today's open visit under the plan, if one is booked
    reason: str  # the guard's refusal ("" when nothing blocks a dose today)


def _probe(plan: Plan, patient: Patient, day: date) -> Visit:
    """An unsaved visit standing for "a dose under this plan today" (a negative id matches no dose), so a plan
    with no visit today (a take-home day, say) still gets the guard's answer: covered, on hold, too soon."""
    kind = "injection" if plan.medication in INJECTIONS else "dose"
    return Visit(
        id=-plan.pk, patient=patient, clinic=patient.clinic, plan=plan, kind=kind, status="scheduled", date=day
    )


def dosing_today(
    *,
    patient: Patient,
    plans: list[Plan],
    next_visits: list[Visit],
    today: date,
    rules: Rules | None = None,
    escalations: dict[int, list[guard.OpenEscalation]] | None = None,
) -> tuple[list[DosingToday], dict[int, str]]:
    """Per active plan the guard's answer for a dose today, and for each of the next visits its own refusal:
    one call to the guard's selector (two queries; `plans` are every plan of the patient), whatever the number of
    plans and visits. `rules`: the patient's clinic's, when the caller has parsed them already; `escalations`:
    the patient's open ones as the guard reads them (open_guard_escalations), saving a third query."""
    active = [p for p in plans if p.status == "active" and p.active_on(today)]
    todays = {v.plan_id: v for v in next_visits if v.date == today and v.plan_id is not None}
    asked = [todays.get(p.pk) or _probe(p, patient, today) for p in active]
    for visit in [*asked, *next_visits]:
        visit.clinic = patient.clinic
        visit.patient = patient
    parsed = {patient.clinic_id: rules} if rules is not None else None
    medications = {p.pk: p.medication for p in plans}
    blockers = dose_blockers(
        visits=[*asked, *next_visits], now=timezone.now(), rules=parsed, medications=medications,
        escalations=escalations,
    )
    rows = [
        DosingToday(plan=p, visit=todays.get(p.pk), reason=blockers.get(visit.pk, ""))
        for p, visit in zip(active, asked, strict=True)
    ]
    return rows, {v.pk: blockers[v.pk] for v in next_visits if v.pk in blockers}


def patient_next_visits(
    *, patient: Patient, today: date, limit: int = 10, plans: list[Plan] | None = None
) -> list[Visit]:
    """`plans`: the patient's, when the caller has them: the visits get theirs from it instead of a join."""
    qs = patient.visits.filter(date__gte=today, status__in=("scheduled", "checked_in"))
    if plans is None:
        return list(qs.select_related("plan", "window").order_by("date", "start", "id")[:limit])
    visits = list(qs.select_related("window").order_by("date", "start", "id")[:limit])
    by_id = {p.pk: p for p in plans}
    for v in visits:
        if v.plan_id in by_id:  # any other plan (none should be) is read when asked for
            v.plan = by_id[v.plan_id]
    return visits


# What the patient page's "Take-homes handed out" list shows of each visit (and of who completed it).
TAKE_HOME_FIELDS = ("id", "patient_id", "plan_id", "date", "status", "take_home_doses", "covered_through",
                    "bottles_returned", "completed_by_id", "completed_by__username")


def patient_take_homes(*, patient: Patient, limit: int = 20) -> list[Visit]:
    """The newest visits that handed out take-homes, with who completed them: only the columns the list shows
    (the plan was joined and every column of the visit and the user built into the query, issue #16)."""
    qs = patient.visits.filter(status="completed", take_home_doses__gt=0).select_related("completed_by")
    return list(qs.only(*TAKE_HOME_FIELDS).order_by("-date", "-id")[:limit])


def patient_messages(*, patient: Patient, limit: int = 20) -> list[Message]:
    return list(Message.objects.filter(patient=patient).order_by("-scheduled_for", "-id")[:limit])


def patient_history(*, patient: Patient, plans: list[Plan] | None = None, limit: int = 50) -> list[LogEntry]:
    """Change history of the patient, its plans and their pauses and guest dosing (django-auditlog), newest first;
    access entries left out. Each entry gets `what`: the record in clinic words ("Methadone plan", "Pause: Hospital
    (Methadone plan)"), not its code. `plans` with their pauses prefetched saves the queries for them."""
    if plans is None:
        plans = list(patient.plans.prefetch_related("pauses"))
    patient_ct = ContentType.objects.get_for_model(Patient)
    plan_ct = ContentType.objects.get_for_model(Plan)
    pause_ct = ContentType.objects.get_for_model(Pause)
    plan_words = {str(p.pk): f"{p.get_medication_display()} plan" for p in plans}
    pause_words = {
        str(z.pk): f"Pause: {z.get_reason_display()} ({p.get_medication_display()} plan)"
        for p in plans
        for z in p.pauses.all()
    }
    # In SQL of its own (web.patient_reads, issue #16: building the ORM's query cost more than running it).
    entries = patient_reads.log_entries(
        [(patient_ct.pk, [str(patient.pk)]), (plan_ct.pk, list(plan_words)), (pause_ct.pk, list(pause_words))],
        limit=limit,
    )
    words = {plan_ct.pk: plan_words, pause_ct.pk: pause_words}
    for entry in entries:
        entry.what = words.get(entry.content_type_id, {}).get(entry.object_pk, entry.object_repr)  # type: ignore[attr-defined]
    return entries


# --- manager dashboard: attendance figures live in visits.reports -----------------------------------

def sms_rates(*, clinic: Clinic, date_from: date, date_to: date) -> dict[str, Any]:
    tz = ZoneInfo(clinic.timezone)
    start = datetime.combine(date_from, datetime.min.time(), tzinfo=tz)
    end = datetime.combine(date_to + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    msgs = Message.objects.filter(patient__clinic=clinic, scheduled_for__gte=start, scheduled_for__lt=end).aggregate(
        delivered=Count("id", filter=Q(status="delivered")),
        undelivered=Count("id", filter=Q(status__in=("undelivered", "failed"))),
        in_flight=Count("id", filter=Q(status__in=("queued", "sending", "sent"))),
        skipped=Count("id", filter=Q(status="skipped")),
    )
    patients = Patient.objects.filter(clinic=clinic).aggregate(
        consented=Count("id", filter=Q(sms_consent=True) | Q(sms_opted_out=True)),
        opted_out=Count("id", filter=Q(sms_opted_out=True)),
    )
    return {
        **msgs,
        **patients,
        "delivery_rate": _rate(msgs["delivered"], msgs["delivered"] + msgs["undelivered"]),
        "opt_out_rate": _rate(patients["opted_out"], patients["consented"]),
    }


# --- doses: orders, amounts given, COWS (issue #14) -----------------------------------------------------
# Amounts are the services' answers (scheduler.services dose orders, visits.services completion): these reads
# only show them. The board needs the order in force for every row in one query, never one per row.

TAPER_NOTE = "taper step"  # scheduler.services.dose_taper_create labels each order of a taper so


# The order in force per plan, in SQL written once (issue #16: building and compiling the ORM's version cost the board
# more CPU than PostgreSQL took to run it): the plans go as one array, so the text is the same for any number (typed
# as the column is: psycopg types a list by its largest value).
_ORDER_FIELDS = [f.attname for f in DoseOrder._meta.concrete_fields]
_ORDERS_IN_FORCE_SQL = f"""
    SELECT DISTINCT ON (plan_id) {", ".join(f'"{name}"' for name in _ORDER_FIELDS)}
    FROM "{DoseOrder._meta.db_table}"
    WHERE plan_id = ANY(%s::bigint[]) AND effective_date <= %s
    ORDER BY plan_id, effective_date DESC, created DESC, id DESC"""  # noqa: S608 - names from the model


def orders_in_force(*, plan_ids: list[int], day: date) -> dict[int, DoseOrder]:
    """Each plan's order in force on a clinic-local date (the latest effective on or before it, the latest created
    of a date): one query."""
    if not plan_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_ORDERS_IN_FORCE_SQL, [sorted(set(plan_ids)), day])
        rows = cursor.fetchall()
    db = connection.alias
    return {order.plan_id: order for order in (DoseOrder.from_db(db, _ORDER_FIELDS, row) for row in rows)}


@dataclass(frozen=True)
class DoseDue:
    """A board row's amount: the order in force that day, whether it changed since the patient's last completed
    dose of the plan, and whether the row offers a COWS (a buprenorphine first dose or a taper visit)."""

    order: DoseOrder | None
    amount: Decimal | None  # due at this visit: the order × the session's share (a split methadone dose)
    changed: bool
    last_dose_date: date | None
    offers_cows: bool
    cows_today: int | None


def board_doses(*, visits: list[Visit], day: date) -> dict[int, DoseDue]:
    """Per dose or injection row with a plan: the amount due and its flags. One query for the whole board (the
    orders in force; each plan's last completed dose comes annotated on board_visits' rows, or from one more
    query for other rows), and one for the COWS scores at the rows that offer one (a buprenorphine plan's first
    dose, a taper visit)."""
    rows = [v for v in visits if v.plan_id is not None and v.kind in ("dose", "injection")]
    if not rows:
        return {}
    plan_ids = sorted({v.plan_id for v in rows if v.plan_id is not None})
    orders = orders_in_force(plan_ids=plan_ids, day=day)
    last_dates: dict[int, date | None] = {}
    if all(hasattr(v, "plan_has_dose") for v in rows):  # board_visits annotated the rows: no query
        last_dates = {v.plan_id: v.prior_dose_date for v in rows if v.plan_has_dose}  # type: ignore[attr-defined,misc]
    else:
        for plan_id, last in (
            Visit.objects.filter(plan_id__in=plan_ids, status="completed")
            .values_list("plan_id")
            .annotate(last=Max("date", filter=Q(date__lt=day)))
            .values_list("plan_id", "last")
        ):
            last_dates[plan_id] = last  # a plan with a completed dose has a key (its first dose is behind it)
    def offers_cows(v: Visit) -> bool:
        if v.kind != "dose" or v.status not in ("scheduled", "checked_in") or v.plan is None or v.plan_id is None:
            return False
        order = orders.get(v.plan_id)
        first_buprenorphine = v.plan.medication == "buprenorphine" and v.plan_id not in last_dates
        return first_buprenorphine or (order is not None and order.note.startswith(TAPER_NOTE))

    offered = {v.pk for v in rows if offers_cows(v)}
    cows_today: dict[int, int] = {}
    if offered:
        cows_today = dict(
            Assessment.objects.filter(visit_id__in=offered, scale="cows")
            .values_list("visit_id")
            .annotate(best=Max("total"))
            .values_list("visit_id", "best")
        )
    due: dict[int, DoseDue] = {}
    for v in rows:
        assert v.plan_id is not None
        order = orders.get(v.plan_id)
        last = last_dates.get(v.plan_id)
        amount = share_of(order.dose_mg, v.plan, split_session(v)) if order is not None else None
        due[v.pk] = DoseDue(
            order=order, amount=amount, changed=order is not None and last is not None and order.effective_date > last,
            last_dose_date=last, offers_cows=v.pk in offered, cows_today=cows_today.get(v.pk),
        )
    return due


@dataclass(frozen=True)
class PlanDoses:
    """The patient page's doses section for one plan."""

    plan: Plan
    orders: list[DoseOrder]  # full history, oldest first
    current: DoseOrder | None  # in force today
    given: list[Visit]  # the last completed doses, newest first
    cows: list[Assessment]  # oldest first


DOSES_GIVEN_SHOWN = 10
COWS_SHOWN = 60


# The doses section's two "newest per plan" reads, in SQL of their own (window SQL):
# the ORM's version of a filtered window query names every column twice and joined the whole user row, and
# building it cost ten times what running it did (issue #16: ≈ 4 ms of the patient page's CPU, 0.3 ms now).
# They carry only what web/_doses.html and the COWS chart show, with the user's name as
# `completed_by_username` / `created_by_username`. The (plan, status, date) index serves the first, as before.
def _given_sql(plans: int) -> str:
    user = get_user_model()  # table and column names come from the models; every value is a parameter
    return f"""
        SELECT v.id, v.patient_id, v.plan_id, v.kind, v.status, v.date, v.dose_mg, v.take_home_doses, v.dose_reason,
               v.completed_by_id, u.{user.USERNAME_FIELD} AS completed_by_username
        FROM (SELECT id, patient_id, plan_id, kind, status, date, dose_mg, take_home_doses, dose_reason,
                     completed_by_id, ROW_NUMBER() OVER (PARTITION BY plan_id ORDER BY date DESC, id DESC) AS n
              FROM {Visit._meta.db_table}
              WHERE plan_id IN ({", ".join(["%s"] * plans)}) AND status = 'completed'
                AND kind IN ('dose', 'injection')) v
        LEFT JOIN {user._meta.db_table} u ON u.id = v.completed_by_id
        WHERE v.n <= %s
        ORDER BY v.date DESC, v.id DESC"""  # noqa: S608


def _cows_sql(plans: int) -> str:
    user = get_user_model()
    return f"""
        SELECT a.id, a.visit_id, a.patient_id, a.scale, a.total, a.created, a.created_by_id, a.visit_plan,
               u.{user.USERNAME_FIELD} AS created_by_username
        FROM (SELECT s.id, s.visit_id, s.patient_id, s.scale, s.total, s.created, s.created_by_id,
                     v.plan_id AS visit_plan,
                     ROW_NUMBER() OVER (PARTITION BY v.plan_id ORDER BY s.created DESC, s.id DESC) AS n
              FROM {Assessment._meta.db_table} s JOIN {Visit._meta.db_table} v ON v.id = s.visit_id
              WHERE s.patient_id = %s AND s.scale = 'cows' AND v.plan_id IN ({", ".join(["%s"] * plans)})) a
        LEFT JOIN {user._meta.db_table} u ON u.id = a.created_by_id
        WHERE a.n <= %s
        ORDER BY a.created DESC, a.id DESC"""  # noqa: S608


def patient_doses(*, patient: Patient, plans: list[Plan], today: date) -> list[PlanDoses]:
    """Per plan (not ended): its orders, the amounts given at its last visits and its COWS scores — three
    queries whatever the number of plans."""
    shown = [p for p in plans if p.status != "ended"]
    if not shown:
        return []
    ids = [p.pk for p in shown]
    orders: dict[int, list[DoseOrder]] = defaultdict(list)
    for order in patient_reads.dose_orders(plan_ids=ids):  # in SQL of its own (issue #16)
        orders[order.plan_id].append(order)
    # The newest rows of each plan (a window function), so a plan with a long history never crowds out another.
    given: dict[int, list[Visit]] = defaultdict(list)
    for visit in Visit.objects.raw(_given_sql(len(ids)), [*ids, DOSES_GIVEN_SHOWN]):
        given[visit.plan_id].append(visit)  # type: ignore[index]
    cows: dict[int, list[Assessment]] = defaultdict(list)
    for a in Assessment.objects.raw(_cows_sql(len(ids)), [patient.pk, *ids, COWS_SHOWN]):
        cows[a.visit_plan].append(a)  # type: ignore[attr-defined]
    result = []
    for plan in shown:
        history = orders.get(plan.pk, [])
        current = [o for o in history if o.effective_date <= today]
        result.append(
            PlanDoses(
                plan=plan,
                orders=history,
                current=current[-1] if current else None,
                given=given.get(plan.pk, []),
                cows=list(reversed(cows.get(plan.pk, []))),
            )
        )
    return result


# --- take-home bottles and a naltrexone plan's first injection on the pages (issue #14) ----------------------


@dataclass(frozen=True)
class Bottle:
    """A take-home bottle on the board: the date it covers and the order in force that date (the amount completion
    records by default: visits.services._bottles_against_orders reads visits.selectors.order_in_force)."""

    number: int
    day: date
    order: DoseOrder | None

    @property
    def amount(self) -> Decimal | None:
        return None if self.order is None else Decimal(self.order.dose_mg)


def take_home_bottles(*, counts: dict[Visit, int]) -> dict[int, list[Bottle]]:
    """For each visit handing out `count` take-homes, its bottles: bottle n covers the visit's date + n and holds
    the order in force that date (the latest effective on or before it, as order_in_force picks). One query for
    the whole board, whatever the number of rows and bottles."""
    wanted = {v: n for v, n in counts.items() if n > 0 and v.plan_id is not None}
    if not wanted:
        return {}
    last_day = max(v.date + timedelta(days=n) for v, n in wanted.items())
    by_plan: dict[int, list[DoseOrder]] = defaultdict(list)
    qs = DoseOrder.objects.filter(plan_id__in={v.plan_id for v in wanted}, effective_date__lte=last_day)
    for order in qs.order_by("effective_date", "created", "id"):
        by_plan[order.plan_id].append(order)
    result: dict[int, list[Bottle]] = {}
    for visit, n in wanted.items():
        orders = by_plan.get(visit.plan_id, [])  # type: ignore[arg-type]
        bottles = []
        for k in range(1, n + 1):
            day = visit.date + timedelta(days=k)
            in_force = [o for o in orders if o.effective_date <= day]
            bottles.append(Bottle(number=k, day=day, order=in_force[-1] if in_force else None))
        result[visit.pk] = bottles
    return result


def first_injections_from(*, plans: list[Plan]) -> dict[int, date]:
    """Each naltrexone plan (not ended, no injection given yet) → the date its first injection is due from: the
    rule set's opioid-free days after the last opioid dose (visits.selectors.first_injection_from, the date the
    engine and the guard use). No query when the patient has no such plan."""
    candidates = [p for p in plans if p.medication == "naltrexone_xr" and p.status != "ended"]
    if not candidates:
        return {}
    injected = set(
        Visit.objects.filter(plan_id__in=[p.pk for p in candidates], kind="injection", status="completed")
        .values_list("plan_id", flat=True)
    )
    found: dict[int, date] = {}
    for plan in candidates:
        if plan.pk in injected:
            continue
        day = first_injection_from(plan, rules_for_clinic(plan.patient.clinic))
        if day is not None:
            found[plan.pk] = day
    return found
