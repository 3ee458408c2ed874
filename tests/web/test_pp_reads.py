"""The patient page's panels read in SQL of their own (web.patient_reads, issue #16): each read gives the rows the ORM
query it replaced gave (every column, the same related rows), and the page says exactly what it said with them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from notifications.models import Message
from scheduler.models import DoseOrder, DosingWindow, Patient, Plan
from scheduler.selectors import calendar_for_clinic
from tests.factories import ClosureFactory, PatientFactory, PauseFactory, PlanFactory
from tests.web.conftest import TODAY
from visits.generation import visits_generate
from visits.models import Escalation, OutreachCall, StaffTask, Visit
from web import patient_reads, selectors

pytestmark = pytest.mark.django_db

_CSRF = re.compile(r'"[A-Za-z0-9]{64}"')  # the masked CSRF token differs in every response


def _row(obj: Any) -> dict[str, Any]:
    """Every concrete field as loaded (a deferred one is left out, as it would be read when asked for)."""
    loaded = obj.get_deferred_fields()
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if f.attname not in loaded}


def _rows(objs: list[Any]) -> list[dict[str, Any]]:
    return [_row(o) for o in objs]


def _user(obj: Any, name: str) -> tuple[int, str] | None:
    user = getattr(obj, name)
    return None if user is None else (user.pk, user.get_username())


@pytest.fixture
def record(clinic, patient, plan, staff, morning) -> Patient:
    """A patient with a bit of everything the page's own reads show: plans (one ended), the visits of the strip and
    after it (a cancelled one, one without a plan, JSON columns filled), take-homes handed out with and without a
    nurse, escalations open and resolved, texts, and tasks with and without a visit."""
    Plan.objects.filter(pk=plan.pk).update(attendance_weekdays=[0, 1, 2, 3, 4])
    plan.refresh_from_db()
    naltrexone = PlanFactory(patient=patient, medication="naltrexone_xr", interval_days=28, attendance_weekdays=[])
    ended = PlanFactory(patient=patient, medication="buprenorphine", start_date=TODAY - timedelta(days=40))
    Plan.objects.filter(pk=ended.pk).update(status="ended", end_date=TODAY - timedelta(days=30))
    visits_generate(plans=[plan, naltrexone], today=TODAY, horizon_days=21)
    ClosureFactory(clinic=clinic, date=TODAY + timedelta(days=3), reason="Staff training")
    PauseFactory(plan=plan, start=TODAY + timedelta(days=5), end=TODAY + timedelta(days=6))
    nurse = staff["nurse"]
    for days, doses, by in ((6, 2, nurse), (4, 1, None), (2, 3, nurse)):
        Visit.objects.create(
            patient=patient, clinic=clinic, plan=plan, kind="dose", date=TODAY - timedelta(days=days),
            status="completed", source="manual", take_home_doses=doses, completed_by=by,
            covered_through=TODAY - timedelta(days=days - doses), take_home_mg=["30.00"] * doses,
            drug_screen_substances=["fentanyl"], bottles_returned=False if by else None,
        )
    Visit.objects.create(patient=patient, clinic=clinic, plan=plan, kind="dose", date=TODAY - timedelta(days=1),
                         status="cancelled", source="manual")
    counselling = Visit.objects.create(
        patient=patient, clinic=clinic, kind="counselling", date=TODAY + timedelta(days=2), status="scheduled",
        source="manual",
    )
    for n, (kind, resolved_by) in enumerate((("outreach", None), ("hold", None), ("clinician_review", nurse),
                                             ("outreach", None))):
        e = Escalation.objects.create(
            patient=patient, plan=naltrexone if kind == "hold" else plan, clinic=clinic, kind=kind,
            reason=f"reason {n}", consecutive_missed=3, anchor_date=TODAY - timedelta(days=4 + n),
        )
        if n >= 2:
            Escalation.objects.filter(pk=e.pk).update(
                resolved_at=e.created + timedelta(hours=n), resolved_by=resolved_by, resolution_note=f"note {n}"
            )
    for n, day in enumerate((14, 15, 15)):  # two at one instant: the newer id first
        when = datetime(2026, 11, day, 15, tzinfo=UTC)
        Message.objects.create(patient=patient, purpose="reminder", status="sent", body=f"text {n}", scheduled_for=when)
    for n, (mg, by) in enumerate((("30.00", staff["clinician"]), ("35.50", None), ("40.00", staff["clinician"]))):
        DoseOrder.objects.create(plan=plan, dose_mg=Decimal(mg), effective_date=TODAY + timedelta(days=n * 3 - 3),
                                 note=f"order {n}", created_by=by)
    outreach = Escalation.objects.filter(patient=patient, kind="outreach").order_by("id")
    for n, (escalation, by) in enumerate(((outreach[0], nurse), (outreach[1], None), (outreach[0], nurse))):
        OutreachCall.objects.create(
            escalation=escalation, patient=patient, outcome=OutreachCall.OUTCOME_CHOICES[0][0], note=f"call {n}", by=by
        )
    StaffTask.objects.create(clinic=clinic, patient=patient, kind="callback", detail="call back", visit=counselling)
    StaffTask.objects.create(clinic=clinic, patient=patient, kind="callback", detail="no visit")
    StaffTask.objects.create(clinic=clinic, patient=patient, kind="callback", detail="done", done_at=morning)
    return patient


def _plans(patient: Patient) -> list[Plan]:
    return list(
        patient.plans.select_related("takehome_approved_by").prefetch_related("pauses").order_by("-status", "id")
    )


def test_the_strip_and_next_visits_are_the_rows_the_orm_read(record):
    plans = _plans(record)
    windows = list(DosingWindow.objects.filter(clinic=record.clinic))
    date_from, date_to = TODAY - timedelta(days=20), TODAY + timedelta(days=7)
    strip, upcoming = patient_reads.strip_and_next_visits(
        patient=record, plans=plans, windows=windows, date_from=date_from, date_to=date_to, today=TODAY
    )
    shown = [p for p in plans if p.status != "ended"]
    orm_strip = list(Visit.objects.filter(plan__in=shown, date__range=(date_from, date_to)).exclude(status="cancelled"))
    orm_next = selectors.patient_next_visits(patient=record, today=TODAY)  # plan and window joined
    assert _rows(strip) == _rows(orm_strip) and len(strip) > 5
    assert _rows(upcoming) == _rows(orm_next) and len(upcoming) == 10
    assert any(v.plan_id is None for v in upcoming)  # the counselling visit
    with CaptureQueriesContext(connection) as ctx:  # plans and windows come from what the page read
        assert [(v.plan, v.window) for v in upcoming] == [(v.plan, v.window) for v in orm_next]
    assert len(ctx.captured_queries) == 0
    assert all(v.take_home_mg == o.take_home_mg for v, o in zip(strip, orm_strip, strict=True))  # JSON parsed


def test_a_window_or_plan_the_page_did_not_read_is_read_when_asked_for(record):
    plans = _plans(record)
    _, upcoming = patient_reads.strip_and_next_visits(
        patient=record, plans=[p for p in plans if p.medication == "methadone"], windows=[], date_from=TODAY,
        date_to=TODAY, today=TODAY, limit=3,
    )
    orm_next = selectors.patient_next_visits(patient=record, today=TODAY, limit=3)
    assert [(v.plan, v.window) for v in upcoming] == [(v.plan, v.window) for v in orm_next]


def test_take_homes_escalations_texts_and_tasks_are_the_rows_the_orm_read(record, staff):
    plans = _plans(record)
    take_homes = patient_reads.patient_take_homes(patient=record)
    orm_take_homes = selectors.patient_take_homes(patient=record)
    assert _rows(take_homes) == _rows(orm_take_homes) and len(take_homes) == 3
    assert [_user(v, "completed_by") for v in take_homes] == [_user(v, "completed_by") for v in orm_take_homes]
    assert _user(take_homes[0], "completed_by") == (staff["nurse"].pk, "nurse_user")

    escalations = patient_reads.patient_escalations(patient=record, plans=plans, limit=200)
    orm_escalations = list(record.escalations.select_related("plan", "resolved_by").order_by(
        F("resolved_at").desc(nulls_first=True), "-created", "-id"
    )[:200])
    assert _rows(escalations) == _rows(orm_escalations) and len(escalations) == 4
    assert [(e.plan, _user(e, "resolved_by")) for e in escalations] == [
        (e.plan, _user(e, "resolved_by")) for e in orm_escalations
    ]
    assert [e.resolved_at is None for e in escalations] == [True, True, False, False]
    assert _rows(patient_reads.patient_escalations(patient=record, plans=plans, limit=1)) == _rows(orm_escalations[:1])

    texts = patient_reads.patient_messages(patient=record)
    assert _rows(texts) == _rows(selectors.patient_messages(patient=record)) and texts[0].pk > texts[1].pk

    tasks = patient_reads.patient_open_tasks(patient=record)
    orm_tasks = list(record.tasks.filter(done_at__isnull=True).select_related("visit").order_by("created", "id"))
    assert _rows(tasks) == _rows(orm_tasks) and len(tasks) == 2
    assert [t.visit and _row(t.visit) for t in tasks] == [t.visit and _row(t.visit) for t in orm_tasks]


def _page(client, patient_id: int) -> tuple[str, list[str]]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"/patients/{patient_id}/")
    assert response.status_code == 200
    return _CSRF.sub("", response.content.decode()), [q["sql"] for q in ctx.captured_queries]


def _as_the_orm_read_them(monkeypatch) -> None:
    """The page as it was: its panels read by the ORM queries (and calendar_for_clinic) web.patient_reads replaced."""

    def strip_and_next(*, patient, plans, windows, date_from, date_to, today):
        return None, selectors.patient_next_visits(patient=patient, today=today, plans=plans)

    def escalations(*, patient, plans, limit):
        return list(patient.escalations.select_related("plan", "resolved_by").order_by(
            F("resolved_at").desc(nulls_first=True), "-created", "-id"
        )[:limit])

    def tasks(*, patient):
        return list(patient.tasks.filter(done_at__isnull=True).select_related("visit").order_by("created", "id"))

    def log_entries(records, *, limit):
        from auditlog.models import LogEntry
        from django.db.models import Q

        which = Q(pk__in=[])
        for content_type, pks in records:
            which |= Q(content_type_id=content_type, object_pk__in=pks)
        qs = LogEntry.objects.filter(which).exclude(action=LogEntry.Action.ACCESS)
        return list(qs.select_related("actor", "content_type").order_by("-timestamp", "-id")[:limit])

    def dose_orders(*, plan_ids):
        qs = DoseOrder.objects.filter(plan_id__in=plan_ids).select_related("created_by")
        return list(qs.order_by("effective_date", "created", "id"))

    monkeypatch.setattr(patient_reads, "dose_orders", dose_orders)
    monkeypatch.setattr(
        patient_reads, "clinic_windows", lambda *, clinic: list(DosingWindow.objects.filter(clinic=clinic))
    )
    monkeypatch.setattr(
        patient_reads, "patient_outreach_calls",
        lambda *, patient, limit: list(patient.outreach_calls.select_related("by")[:limit]),
    )
    monkeypatch.setattr(patient_reads, "log_entries", log_entries)
    monkeypatch.setattr(patient_reads, "patient_plans", lambda *, patient: _plans(patient))
    monkeypatch.setattr(
        patient_reads, "clinic_calendar", lambda clinic, windows: calendar_for_clinic(clinic, windows=windows)
    )
    monkeypatch.setattr(patient_reads, "strip_and_next_visits", strip_and_next)
    monkeypatch.setattr(patient_reads, "patient_escalations", escalations)
    monkeypatch.setattr(patient_reads, "patient_take_homes", selectors.patient_take_homes)
    monkeypatch.setattr(patient_reads, "patient_messages", selectors.patient_messages)
    monkeypatch.setattr(patient_reads, "patient_open_tasks", tasks)


@pytest.mark.parametrize("role", ["clinician", "front_desk"])
def test_the_page_says_the_same_as_with_the_orm_reads(client_as, record, role, monkeypatch):
    client = client_as(role)
    ours, our_queries = _page(client, record.pk)
    _as_the_orm_read_them(monkeypatch)
    theirs, their_queries = _page(client, record.pk)
    for said in ("call 2", "35.5", "cell cell-closure", "plan on hold", "call back", "by nurse_user", "note 2",
                 "text 1", "Counselling", 'id="hist-title"'):
        assert said in ours, said
    assert "No changes recorded." not in ours and " Methadone plan</td>" in ours  # the history has entries
    assert ours == theirs
    assert len(their_queries) - len(our_queries) == 1  # the strip's visits and the next visits: one statement


def test_the_rule_set_comes_with_the_patient(client_as, record):
    _, queries = _page(client_as("nurse"), record.pk)
    assert not any(q.startswith('SELECT "scheduler_ruleset"') for q in queries)
    assert record.clinic.rule_set_id is not None


def test_a_patient_without_current_plans_reads_the_next_visits_alone(client_as, clinic, morning):
    patient = PatientFactory(clinic=clinic)
    ended = PlanFactory(patient=patient)
    Plan.objects.filter(pk=ended.pk).update(status="ended", end_date=TODAY - timedelta(days=1))
    Visit.objects.create(patient=patient, clinic=clinic, kind="counselling", date=TODAY + timedelta(days=1),
                         status="scheduled", source="manual")
    html, _ = _page(client_as("nurse"), patient.pk)
    assert "No current plans." in html and "Counselling" in html


def test_the_calendar_is_the_one_calendar_for_clinic_builds(record, clinic):
    ClosureFactory(clinic=clinic, date=TODAY + timedelta(days=9), reason="Inventory", services=["methadone"])
    ClosureFactory(clinic=clinic, date=TODAY + timedelta(days=3), reason="Second one that day")
    windows = list(DosingWindow.objects.filter(clinic=clinic))
    ours = patient_reads.clinic_calendar(clinic, windows)
    assert ours == calendar_for_clinic(clinic, windows=windows) and len(ours.closures) == 3


def _what_the_page_shows_of(plan: Plan) -> tuple[Any, ...]:
    approver = plan.takehome_approved_by
    return _user(plan, "takehome_approved_by"), approver and approver.get_full_name(), _rows(list(plan.pauses.all()))


def test_the_plans_are_the_rows_the_orm_read(record, staff):
    approved = record.plans.get(medication="methadone")
    Plan.objects.filter(pk=approved.pk).update(takehome_approved_by=staff["clinician"], takehome_approved=True)
    ours, theirs = patient_reads.patient_plans(patient=record), _plans(record)
    assert _rows(ours) == _rows(theirs) and [p.status for p in ours] == ["ended", "active", "active"]
    with CaptureQueriesContext(connection) as ctx:
        said = [_what_the_page_shows_of(p) for p in ours]
        assert all(p.patient is record for p in ours)
    assert len(ctx.captured_queries) == 0
    assert said == [_what_the_page_shows_of(p) for p in theirs]
    assert (staff["clinician"].pk, "clinician_user") in [s[0] for s in said] and any(s[2] for s in said)


def _orm_history(patient: Patient, plans: list[Plan], limit: int = 50) -> list[Any]:
    from auditlog.models import LogEntry
    from django.contrib.contenttypes.models import ContentType
    from django.db.models import Q

    from scheduler.models import Pause

    kinds = ContentType.objects.get_for_model
    return list(
        LogEntry.objects.filter(
            Q(content_type=kinds(Patient), object_pk=str(patient.pk))
            | Q(content_type=kinds(Plan), object_pk__in=[str(p.pk) for p in plans])
            | Q(content_type=kinds(Pause), object_pk__in=[str(z.pk) for p in plans for z in p.pauses.all()])
        )
        .exclude(action=LogEntry.Action.ACCESS)
        .select_related("actor", "content_type")
        .order_by("-timestamp", "-id")[:limit]
    )


def test_the_history_is_the_entries_the_orm_read(client_as, record, staff, morning):
    from auditlog.context import set_actor

    client_as("nurse").get(f"/patients/{record.pk}/")  # an access entry: never in the history
    with set_actor(staff["clinician"]):
        record.phone = "+15555550123"
        record.save()
        methadone = record.plans.get(medication="methadone")
        methadone.doses_per_day = 2
        methadone.save()
    plans = _plans(record)
    ours, theirs = selectors.patient_history(patient=record, plans=plans), _orm_history(record, plans)
    assert _rows(ours) == _rows(theirs) and len(ours) >= 5
    assert {e.content_type.model for e in ours} == {"patient", "plan", "pause"}
    assert [(e.content_type, _user(e, "actor"), e.changes_display_dict) for e in ours] == [
        (e.content_type, _user(e, "actor"), e.changes_display_dict) for e in theirs
    ]
    assert (staff["clinician"].pk, "clinician_user") in [_user(e, "actor") for e in ours]
    assert _rows(selectors.patient_history(patient=record, plans=plans, limit=2)) == _rows(theirs[:2])


def test_the_dose_orders_are_the_rows_the_orm_read(record, staff):
    ids = [p.pk for p in _plans(record)]
    ours = patient_reads.dose_orders(plan_ids=ids)
    theirs = list(DoseOrder.objects.filter(plan_id__in=ids).select_related("created_by").order_by(
        "effective_date", "created", "id"
    ))
    assert _rows(ours) == _rows(theirs) and len(ours) == 3
    with CaptureQueriesContext(connection) as ctx:
        said = [(_user(o, "created_by"), o.created_by and o.created_by.get_full_name()) for o in ours]
    assert len(ctx.captured_queries) == 0
    assert said == [(_user(o, "created_by"), o.created_by and o.created_by.get_full_name()) for o in theirs]
    assert said[1] == (None, None) and said[0][0] == (staff["clinician"].pk, "clinician_user")
    assert patient_reads.dose_orders(plan_ids=[]) == []


def test_the_windows_and_outreach_calls_are_the_rows_the_orm_read(record, clinic, staff):
    windows = patient_reads.clinic_windows(clinic=clinic)
    assert _rows(windows) == _rows(list(DosingWindow.objects.filter(clinic=clinic))) and windows
    calls = patient_reads.patient_outreach_calls(patient=record, limit=2)
    theirs = list(record.outreach_calls.select_related("by")[:2])
    assert _rows(calls) == _rows(theirs) and len(calls) == 2
    assert [_user(c, "by") for c in calls] == [_user(c, "by") for c in theirs]
    assert (staff["nurse"].pk, "nurse_user") in [_user(c, "by") for c in calls]
