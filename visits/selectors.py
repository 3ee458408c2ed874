"""Reads for the ledger: the visit list, one clinic's availability, the windows a booking may use."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from django.contrib.postgres.aggregates import JSONBAgg
from django.db.models import BooleanField, Count, ExpressionWrapper, Max, OuterRef, Q, QuerySet, Subquery

from scheduler import engine
from scheduler.models import Clinic, Closure, DosingWindow, Plan
from scheduler.permissions import scope_to_clinics
from scheduler.prepared import AS_CLINIC, AS_DAY, prepared
from scheduler.rules import Rules
from scheduler.selectors import calendar_for_clinic, pauses_by_plan, plan_spec
from scheduler.timeutil import NonexistentLocalTime, local_instant
from visits import guard
from visits.models import Escalation, Visit

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def visits_for_user(user: Any) -> QuerySet[Visit]:
    """Visits the user may see. `clinic` is joined so instants render in the clinic's zone without a query."""
    qs = Visit.objects.select_related("clinic").order_by("date", "start", "id")
    return scope_to_clinics(qs, user)


@dataclass(frozen=True)
class Slot:
    """One window on one clinic-local date, as UTC instants."""

    window: DosingWindow
    start: datetime
    end: datetime


def closure_for(clinic: Clinic, day: date, service: str) -> Closure | None:
    """The closure that shuts `service` on `day` (an empty services list closes everything)."""
    for closure in Closure.objects.filter(clinic=clinic, date=day).order_by("id"):
        if _closes(closure.services, service):
            return closure
    return None


def _closes(services: Any, service: str) -> bool:
    """Whether a closure with these services shuts `service` (an empty list closes everything)."""
    return not services or service in services


def slots_for(clinic: Clinic, day: date, service: str, *, windows: Sequence[DosingWindow] | None = None) -> list[Slot]:
    """The windows offering `service` on `day`'s weekday, ignoring closures, sorted by start.

    A window whose wall times do not exist that day (spring-forward gap) is left out: DOMAIN §6
    says such a time is an error, never silently shifted.
    """
    if windows is None:
        windows = list(DosingWindow.objects.filter(clinic=clinic).order_by("start", "end", "id"))
    slots: list[Slot] = []
    for window in windows:
        if day.weekday() not in window.weekdays or service not in window.services:
            continue
        try:
            start = local_instant(day, window.start, clinic.timezone).astimezone(UTC)
            end = local_instant(day, window.end, clinic.timezone).astimezone(UTC)
        except NonexistentLocalTime:
            continue
        slots.append(Slot(window, start, end))
    return slots


def no_window_reason(day: date, service: str) -> str:
    return f"No window offers {service} on {_WEEKDAYS[day.weekday()]}s."


# A cancelled visit frees its place in the window, and so does an excused one: nobody will come for it (the
# patient need not attend: covered by take-homes handed out earlier, API.md v1.1, or excused by a person). A
# missed visit keeps its place: the slot was held that day. Booking (booked_counts) and generation
# (window_bookings) count with this one rule.
FREES_ITS_PLACE = ("cancelled", "excused")


def booked_counts(window_ids: list[int], day: date, *, exclude_visit: int | None = None) -> dict[int, int]:
    """Visits holding a place (FREES_ITS_PLACE) per window on `day`, in one aggregate query."""
    if not window_ids:
        return {}
    qs = Visit.objects.filter(window_id__in=window_ids, date=day).exclude(status__in=FREES_ITS_PLACE)
    if exclude_visit is not None:
        qs = qs.exclude(pk=exclude_visit)
    rows = qs.order_by().values("window_id").annotate(n=Count("id"))
    return {row["window_id"]: row["n"] for row in rows}


class WindowBooking(NamedTuple):
    window_id: int
    date: date
    start: datetime | None
    movable: bool  # a generated visit regeneration may still move (scheduled, untouched)
    visits: int


def window_bookings(window_ids: list[int], date_from: date, date_to: date) -> list[WindowBooking]:
    """Visits holding a place per (window, date, start) over a date range, in one aggregate query.

    Generation loads this once per chunk of plans (never a query per visit); `start` tells it which
    diamorphine booth slots are taken, `movable` which visits a calendar change may still move.
    """
    if not window_ids:
        return []
    movable = ExpressionWrapper(Q(source="plan", status="scheduled", edited=False), output_field=BooleanField())
    rows = (
        Visit.objects.filter(window_id__in=window_ids, date__range=(date_from, date_to))
        .exclude(status__in=FREES_ITS_PLACE)
        .order_by()
        .annotate(movable=movable)
        .values_list("window_id", "date", "start", "movable")
        .annotate(n=Count("id"))
    )
    return [WindowBooking(*row) for row in rows]


def _availability_query() -> QuerySet[DosingWindow]:
    """availability's statement, with the stand-ins AS_CLINIC and AS_DAY for the clinic and the date."""
    held = (
        Visit.objects.filter(window_id=OuterRef("pk"), date=AS_DAY)
        .exclude(status__in=FREES_ITS_PLACE)
        .order_by()
        .values("window_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    shut = (
        Closure.objects.filter(clinic_id=AS_CLINIC, date=AS_DAY)
        .order_by()
        .values("clinic_id")
        .annotate(services_each=JSONBAgg("services", order_by="id"))
        .values("services_each")
    )
    return (
        DosingWindow.objects.filter(clinic_id=AS_CLINIC)
        .order_by("start", "end", "id")
        .annotate(held_on_date=Subquery(held), closures_services=Subquery(shut))
    )


def availability(*, clinic: Clinic, date: date, service: str) -> list[dict[str, Any]]:
    """Windows offering `service` on the clinic-local `date` with their bookings; [] on a closure.

    One statement (issue #16; was three: the closures, the windows, the counts): the clinic's windows, each with
    its count on `date` (booked_counts' rule, through the (window, date) index) and the day's closures' service
    lists (one uncorrelated subquery, evaluated once), which closure_for's own test then reads. The statement is
    compiled once a thread (scheduler.prepared) and sent with the clinic and the date: building it cost more CPU
    than running it."""
    windows = prepared("visits.availability", _availability_query).run({AS_CLINIC: clinic.pk, AS_DAY: date})
    if windows and any(_closes(services, service) for services in windows[0].closures_services or ()):
        return []
    slots = slots_for(clinic, date, service, windows=windows)
    counts = {w.pk: w.held_on_date or 0 for w in windows}
    rows = []
    for slot in slots:
        booked = counts.get(slot.window.pk, 0)
        rows.append(
            {
                "window_id": slot.window.pk,
                "start": slot.start,
                "end": slot.end,
                "capacity": slot.window.capacity,
                "booked": booked,
                "remaining": max(slot.window.capacity - booked, 0),
            }
        )
    return rows


# --- the dosing guard's facts (read by visits.services under a lock, and by the pages before anyone clicks) ----

# Completed doses read back this far (take-homes cover at most a month; injection minimums are shorter); a rule
# set with a longer injection interval widens it (guard_lookback_days).
DOSE_LOOKBACK_DAYS = 62
_EPOCH = datetime.min.replace(tzinfo=UTC)  # sorts a dose without a start among those with one
GUARD_ESCALATIONS = (*guard.BLOCKING_KINDS, guard.RETITRATION, guard.RESTART)


def guard_lookback_days(rules: Rules) -> int:
    return max([DOSE_LOOKBACK_DAYS, *(w.interval_days + 1 for w in rules.injection_windows.values())])


def guard_doses(
    patient_ids: Iterable[int], day: date, lookback_days: int, *, medications: dict[int, str] | None = None
) -> dict[int, list[guard.DoseFacts]]:
    """Completed dose and injection visits per patient from `lookback_days` before `day`, and any whose
    take-homes still cover `day` or later. `medications`: every plan of these patients (id: medication), when the
    caller has read them already (the patient page)."""
    since = day - timedelta(days=lookback_days)
    ids = list(patient_ids)
    fields = (
        "patient_id", "id", "plan_id", "date", "completed_at", "covered_through", "take_home_doses", "dose_mg", "start",
    )
    doses = Visit.objects.filter(status="completed", kind__in=("dose", "injection")).exclude(plan=None).order_by()
    # Two reads, not one with `date >= since OR covered_through >= day`: that OR no index serves, and on a chain's
    # table (5M visits) PostgreSQL answered a board's 500 patients with a sequential scan of every visit (0.75 s,
    # issue #16). The recent doses come through the (patient, date) index; take-homes from before `since` still
    # covering `day` (longer than any supply the rules allow; kept so the guard never misses one) through the
    # partial (plan, covered_through) index of completed visits, for the patients' plans only.
    # The plans' medications in a read of their own: joined to the doses, PostgreSQL hashed every plan of the chain.
    if medications is None:
        medications = dict(Plan.objects.filter(patient_id__in=ids).values_list("id", "medication"))
    if not medications:
        return {}  # a dose belongs to a plan
    recent = doses.filter(patient_id__in=ids, date__gte=since)
    older = doses.filter(plan_id__in=list(medications), patient_id__in=ids, covered_through__gte=day, date__lt=since)
    rows = sorted(  # the model's order (date, start, id), as the one read gave it; PostgreSQL sorts NULL starts last
        recent.values_list(*fields).union(older.values_list(*fields), all=True),
        key=lambda r: (r[3], r[8] is None, r[8] or _EPOCH, r[1]),
    )
    by_patient: dict[int, list[guard.DoseFacts]] = defaultdict(list)
    for patient_id, pk, plan_id, day_, completed_at, covered_through, take_homes, mg, _ in rows:
        medication = medications[plan_id]
        by_patient[patient_id].append(
            guard.DoseFacts(pk, plan_id, medication, day_, completed_at, covered_through, take_homes, mg)
        )
    return by_patient


def guard_escalations(patient_ids: Iterable[int]) -> dict[int, list[guard.OpenEscalation]]:
    """Open escalations that block dosing, per patient."""
    rows = Escalation.objects.filter(
        patient_id__in=list(patient_ids), resolved_at=None, kind__in=GUARD_ESCALATIONS
    ).values_list("patient_id", "id", "plan_id", "plan__medication", "kind", "reason", "created")
    by_patient: dict[int, list[guard.OpenEscalation]] = defaultdict(list)
    for patient_id, pk, plan_id, medication, kind, reason, created in rows:
        by_patient[patient_id].append(guard.OpenEscalation(pk, plan_id, medication, kind, reason, created))
    return by_patient


def open_guard_escalations(escalations: Iterable[Escalation]) -> dict[int, list[guard.OpenEscalation]]:
    """guard_escalations' answer from escalations already read (with their plans): the caller vouches that every
    open escalation of its patients is among them."""
    by_patient: dict[int, list[guard.OpenEscalation]] = defaultdict(list)
    for e in escalations:
        if e.resolved_at is None and e.kind in GUARD_ESCALATIONS:
            medication = e.plan.medication if e.plan is not None else None
            by_patient[e.patient_id].append(
                guard.OpenEscalation(e.pk, e.plan_id, medication, e.kind, e.reason, e.created)
            )
    return by_patient


def plan_facts(plan: Any) -> guard.PlanFacts:
    return guard.PlanFacts(
        id=plan.pk, medication=plan.medication, doses_per_day=plan.doses_per_day,
        min_interval_minutes=plan.min_interval_minutes, interval_days=plan.interval_days,
    )


def dose_blockers(
    *,
    visits: Iterable[Visit],
    now: datetime,
    rules: dict[int, Rules] | None = None,
    medications: dict[int, str] | None = None,
    escalations: dict[int, list[guard.OpenEscalation]] | None = None,
) -> dict[int, str]:
    """Why each open dose or injection visit could not be completed now (no take-homes), by visit id: the
    dosing guard's own refusal, so the today board and the patient page say it before anyone clicks.
    Three queries whatever the number of visits (doses, escalations, and the clinics' rule sets). `rules`: rule
    sets by clinic id the caller has parsed already (the patient page has its clinic's); `medications` (every plan
    of the visits' patients) and `escalations` (guard_escalations' answer) likewise, each saving its query."""
    rows = [v for v in visits if v.plan_id is not None and v.kind in ("dose", "injection")
            and v.status in ("scheduled", "checked_in")]
    if not rows:
        return {}
    from scheduler.selectors import rules_for_clinic

    clinics = {v.clinic_id: v.clinic for v in rows}
    given = rules or {}
    rules = {  # parsed once a clinic
        clinic_id: given[clinic_id] if clinic_id in given else rules_for_clinic(clinic)
        for clinic_id, clinic in clinics.items()
    }
    lookback = max(guard_lookback_days(r) for r in rules.values())
    patients = {v.patient_id for v in rows}
    doses = guard_doses(patients, min(v.date for v in rows), lookback, medications=medications)
    if escalations is None:
        escalations = guard_escalations(patients)
    blockers: dict[int, str] = {}
    for v in rows:
        attempt = guard.Attempt(step=guard.COMPLETE, plan=plan_facts(v.plan), date=v.date, at=now, visit_id=v.pk)
        refusal = guard.check(attempt, doses=doses.get(v.patient_id, []), escalations=escalations.get(v.patient_id, []),
                              rules=rules[v.clinic_id], tz=v.clinic.timezone)
        if refusal is not None:
            blockers[v.pk] = refusal.message
    return blockers


# --- the calendar's take-home expectation (what the guard holds a completion to) -----------------------------


def readmission_start(treatment_start: date, day: date, last_covered: date | None, rules: Rules) -> date:
    """Re-admission (API.md v1.1, DOMAIN §3): after the rule set's `readmission_gap_days` without a completed
    dose of this medication, treatment day 1 restarts at the next completed dose."""
    if last_covered is None:
        return treatment_start
    days_without = (day - last_covered).days - 1
    return max(treatment_start, day) if days_without >= rules.readmission_gap_days else treatment_start


def last_covered_dates(pairs: Iterable[tuple[int, str]], before: date) -> dict[tuple[int, str], date]:
    """The last date covered by a completed dose (its own date or its take-homes) before `before`, per
    (patient, medication), in one grouped query."""
    pairs = set(pairs)
    if not pairs:
        return {}
    rows = (
        Visit.objects.filter(patient_id__in={p for p, _ in pairs}, status="completed", date__lt=before)
        .exclude(plan=None)
        .values("patient_id", "plan__medication")
        .annotate(last_date=Max("date"), last_cover=Max("covered_through"))
    )
    found: dict[tuple[int, str], date] = {}
    for row in rows:
        key = (row["patient_id"], row["plan__medication"])
        if key in pairs:
            found[key] = max(d for d in (row["last_date"], row["last_cover"]) if d is not None)
    return found


def effective_treatment_start(plan: Any, day: date, rules: Rules) -> date:
    last = last_covered_dates([(plan.patient_id, plan.medication)], day).get((plan.patient_id, plan.medication))
    return readmission_start(plan.treatment_start, day, last, rules)


def expected_take_homes(
    plan: Any, clinic: Clinic, day: date, treatment_start: date, rules: Rules, *,
    calendar: engine.Calendar | None = None, pauses: list[Any] | None = None,
) -> int:
    """The take-home days the plan's calendar expects at a visit on `day`: the clinician's standing decision
    (take_home days, suspended while take-homes are not approved) and the closure days after it — the engine's
    own count on a planned visit day, else the run of take-home days that follows a visit booked by hand."""
    spec = replace(plan_spec(plan, pauses=pauses), treatment_start=treatment_start)
    calendar = calendar or calendar_for_clinic(clinic)
    planned = engine.plan_days(spec, calendar, rules, day, day)[0]
    if planned.expected == engine.VISIT:
        return planned.take_home_doses
    ahead = engine.plan_days(spec, calendar, rules, day + timedelta(days=1), day + timedelta(days=DOSE_LOOKBACK_DAYS))
    expected = 0
    for d in ahead:
        if d.expected not in (engine.TAKE_HOME, engine.CLOSURE_TAKE_HOME):
            break
        expected += 1
    return expected


def planned_take_homes(*, clinic: Clinic, visits: Iterable[Visit], rules: Rules) -> dict[int, int]:
    """`expected_take_homes` for each open oral dose visit of one clinic (with re-admission), in a fixed number
    of queries whatever the number of visits: the clinic's calendar, the plans' pauses, the last doses."""
    rows = [v for v in visits if v.plan is not None and v.kind == "dose" and v.plan.medication in guard.ORAL
            and v.status in ("scheduled", "checked_in")]
    if not rows:
        return {}
    calendar = calendar_for_clinic(clinic)
    pauses = pauses_by_plan([v.plan_id for v in rows if v.plan_id is not None])
    day = max(v.date for v in rows) + timedelta(days=1)
    last = last_covered_dates({(v.patient_id, v.plan.medication) for v in rows if v.plan is not None}, day)
    planned: dict[int, int] = {}
    for v in rows:
        plan = v.plan
        assert plan is not None
        start = readmission_start(plan.treatment_start, v.date, last.get((v.patient_id, plan.medication)), rules)
        planned[v.pk] = expected_take_homes(plan, clinic, v.date, start, rules, calendar=calendar,
                                            pauses=pauses.get(plan.pk, []))
    return planned


def order_in_force(plan_id: int, day: date) -> Any:
    """The plan's dose order in force on a clinic-local date (the latest effective on or before it), or None."""
    from scheduler.models import DoseOrder

    return (
        DoseOrder.objects.filter(plan_id=plan_id, effective_date__lte=day)
        .order_by("-effective_date", "-created", "-id")
        .first()
    )


# --- the amount due at a visit (issue #14) --------------------------------------------------------------------

SPLIT_MEDICATIONS = frozenset({"methadone"})
_CENT = Decimal("0.01")


def is_split(plan: Any) -> bool:
    """A methadone plan with two sessions a visit day: the order in force is the daily total, shared out."""
    return plan is not None and plan.medication in SPLIT_MEDICATIONS and plan.doses_per_day > 1


def session_share(plan: Any, session: int) -> Decimal:
    """The fraction of the order in force a session gives: 1 unless the plan is a split methadone dose, where the
    first session gives `split_first_share` percent (default 50) and the second the rest."""
    if not is_split(plan):
        return Decimal(1)
    first = Decimal(plan.split_first_share or 50) / 100
    return first if session == 0 else 1 - first


def share_of(total: Decimal, plan: Any, session: int) -> Decimal:
    return (Decimal(total) * session_share(plan, session)).quantize(_CENT)


def split_session(visit: Visit) -> int:
    """Which session of the day a visit of a split plan is: a generated visit keeps its planned session; a visit
    booked by hand is the next session after those already given that day (one query, split plans only)."""
    plan = visit.plan
    if plan is None or not is_split(plan) or visit.source == "plan":
        return visit.session
    given = (
        Visit.objects.filter(plan_id=plan.pk, date=visit.date, status="completed", kind="dose")
        .exclude(pk=visit.pk)
        .count()
    )
    return min(given, plan.doses_per_day - 1)


def dose_due_mg(visit: Visit) -> Decimal | None:
    """The amount due at this visit: the order in force on its date × the session's share (a split methadone dose
    gives each session its share of the daily total); None without an order or for a visit without a plan."""
    if visit.plan_id is None or visit.kind not in ("dose", "injection"):
        return None
    order = order_in_force(visit.plan_id, visit.date)
    if order is None:
        return None
    return share_of(order.dose_mg, visit.plan, split_session(visit))


def doses_due_mg(visits: Iterable[Visit]) -> dict[int, Decimal | None]:
    """`dose_due_mg` for many visits (a board's list) in one query for the orders (plus one per hand-booked visit of
    a split plan). Visits should come with `plan` selected."""
    from scheduler.models import DoseOrder

    rows = [v for v in visits if v.plan_id is not None and v.kind in ("dose", "injection")]
    due: dict[int, Decimal | None] = {v.pk: None for v in visits}
    if not rows:
        return due
    orders: dict[int, list[Any]] = defaultdict(list)
    for order in DoseOrder.objects.filter(plan_id__in={v.plan_id for v in rows}, effective_date__lte=max(
            v.date for v in rows)).order_by("effective_date", "created", "id"):
        orders[order.plan_id].append(order)
    for v in rows:
        current = [o for o in orders.get(v.plan_id or 0, []) if o.effective_date <= v.date]
        if current:
            due[v.pk] = share_of(current[-1].dose_mg, v.plan, split_session(v))
    return due


# --- naltrexone: from when the first injection may be given (issue #14) ----------------------------------------


def last_opioid_day(patient_id: int) -> date | None:
    """The last date covered by an opioid dose given here (its own date or its take-homes), or None."""
    row = (
        Visit.objects.filter(
            patient_id=patient_id, status="completed", kind__in=("dose", "injection"),
            plan__medication__in=sorted(guard.OPIOIDS),
        )
        .aggregate(last_date=Max("date"), last_cover=Max("covered_through"))
    )
    found = [d for d in (row["last_date"], row["last_cover"]) if d is not None]
    return max(found) if found else None


def first_injection_from(plan: Any, rules: Rules) -> date | None:
    """A naltrexone plan's first injection is due no earlier than the rule set's opioid-free days after the last
    opioid dose recorded (the guard's `_opioid_free` reckons the same way): that date, or the plan's start when it
    is later; None for other medications or a patient with no opioid dose here."""
    if plan.medication != "naltrexone_xr":
        return None
    last = last_opioid_day(plan.patient_id)
    if last is None:
        return None
    return max(plan.start_date, last + timedelta(days=rules.naltrexone_opioid_free_days))
