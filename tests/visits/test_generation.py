"""Materialisation: generate_visits writes the engine's visit days, idempotently, and regeneration
touches only future, scheduled, untouched generated visits."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from auditlog.models import LogEntry
from django.db import connection

from scheduler.models import Closure, Pause
from tests.factories import PatientFactory, PlanFactory
from visits.generation import clinic_visits_regenerate, plan_visits_regenerate, visits_generate
from visits.models import Visit

NY = ZoneInfo("America/New_York")
MONDAY = date(2026, 11, 16)
NOW = datetime(2026, 11, 16, 5, 0, tzinfo=NY)  # before the 07:00 window opens


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def make_plan(clinic, **kwargs):
    patient = PatientFactory(clinic=clinic)
    defaults = {"start_date": MONDAY, "medication": "methadone", "attendance_weekdays": [0, 1, 2, 3, 4, 5]}
    return PlanFactory(patient=patient, **{**defaults, **kwargs})


@pytest.mark.django_db
def test_it_generates_one_visit_per_attendance_day_over_the_horizon(clinic):
    plan = make_plan(clinic)
    result = visits_generate(horizon_days=28)
    visits = Visit.objects.filter(plan=plan)
    # Mon–Sat attendance, Sundays closed for oral dosing (no window): 24 visit days in 4 weeks.
    assert result.created == 24 == visits.count()
    assert {v.date.weekday() for v in visits} == {0, 1, 2, 3, 4, 5}
    first = visits.first()
    assert first.start.astimezone(NY).hour == 7 and first.end.astimezone(NY).hour == 10
    assert first.source == "plan" and first.status == "scheduled" and first.kind == "dose"
    saturday = visits.get(date=MONDAY + timedelta(days=5))
    assert saturday.expected_take_home_doses == 1  # Sunday's closure dose handed out on Saturday


@pytest.mark.django_db
def test_running_generation_twice_creates_nothing_new(clinic):
    make_plan(clinic)
    make_plan(clinic, medication="diamorphine", doses_per_day=2, min_interval_minutes=180, attendance_weekdays=[])
    first = visits_generate(horizon_days=28)
    count = Visit.objects.count()
    second = visits_generate(horizon_days=28)
    assert first.created == count > 0
    assert (second.created, second.updated, second.deleted) == (0, 0, 0)
    assert Visit.objects.count() == count


@pytest.mark.django_db
def test_diamorphine_plans_get_one_visit_per_session(clinic):
    plan = make_plan(clinic, medication="diamorphine", doses_per_day=2, min_interval_minutes=180)
    visits_generate(horizon_days=7)
    by_day = Visit.objects.filter(plan=plan, date=MONDAY).order_by("session")
    assert [v.session for v in by_day] == [0, 1]
    assert (by_day[1].start - by_day[0].start) >= timedelta(minutes=180)


@pytest.mark.django_db
def test_changing_a_plan_regenerates_future_visits_but_keeps_past_attended_and_edited_ones(clinic):
    plan = make_plan(clinic)
    visits_generate(horizon_days=14)
    monday = Visit.objects.get(plan=plan, date=MONDAY)
    Visit.objects.filter(pk=monday.pk).update(status="completed", take_home_doses=0)
    tuesday = Visit.objects.get(plan=plan, date=MONDAY + timedelta(days=1))
    Visit.objects.filter(pk=tuesday.pk).update(edited=True, reason="moved by the front desk")

    plan.attendance_weekdays = [0, 2, 4]
    plan.save()
    result = plan_visits_regenerate(plan=plan, horizon_days=14)

    assert result.deleted > 0
    assert Visit.objects.get(pk=monday.pk).status == "completed"
    assert Visit.objects.get(pk=tuesday.pk).reason == "moved by the front desk"
    untouched = Visit.objects.filter(plan=plan, edited=False).exclude(pk=monday.pk)
    assert {v.date.weekday() for v in untouched} <= {0, 2, 4}


@pytest.mark.django_db
def test_a_window_moved_later_updates_future_visits_in_place_in_a_bounded_number_of_queries(
    clinic, django_assert_max_num_queries
):
    plans = [make_plan(clinic) for _ in range(5)]
    visits_generate()
    before = dict(Visit.objects.filter(plan__in=plans).values_list("id", "start"))
    window = next(w for w in clinic.windows.order_by("start") if "methadone" in w.services)
    window.start = window.start.replace(hour=window.start.hour + 1)
    window.save()
    later = NOW + timedelta(minutes=5)
    with time_machine.travel(later, tick=False), django_assert_max_num_queries(20):
        result = clinic_visits_regenerate(clinic=clinic)
    assert (result.created, result.deleted, result.updated) == (0, 0, len(before))
    after = Visit.objects.filter(plan__in=plans)
    assert {v.id: v.start - timedelta(hours=1) for v in after} == before  # same rows, an hour later
    assert {v.updated for v in after} == {later}


@pytest.mark.django_db
def test_a_pause_removes_the_generated_visits_inside_it(clinic):
    plan = make_plan(clinic)
    visits_generate(horizon_days=14)
    Pause.objects.create(plan=plan, start=MONDAY + timedelta(days=2), end=MONDAY + timedelta(days=4),
                         reason="guest_dosing")
    plan_visits_regenerate(plan=plan, horizon_days=14)
    dates = set(Visit.objects.filter(plan=plan).values_list("date", flat=True))
    assert not dates & {MONDAY + timedelta(days=n) for n in (2, 3, 4)}
    assert MONDAY + timedelta(days=5) in dates


@pytest.mark.django_db
def test_a_new_closure_moves_the_visit_and_hands_out_a_closure_dose_the_day_before(clinic):
    plan = make_plan(clinic)
    visits_generate(horizon_days=14)
    thursday = MONDAY + timedelta(days=3)
    Closure.objects.create(clinic=clinic, date=thursday, reason="Thanksgiving", services=["methadone"])
    clinic_visits_regenerate(clinic=clinic)
    dates = set(Visit.objects.filter(plan=plan).values_list("date", flat=True))
    assert thursday not in dates
    assert Visit.objects.get(plan=plan, date=thursday - timedelta(days=1)).expected_take_home_doses == 1


@pytest.mark.django_db
def test_ending_a_plan_removes_its_future_untouched_visits(clinic):
    plan = make_plan(clinic)
    visits_generate(horizon_days=14)
    plan.status = "ended"
    plan.save()
    plan_visits_regenerate(plan=plan)
    assert not Visit.objects.filter(plan=plan, status="scheduled", start__gt=NOW).exists()


@pytest.mark.django_db
def test_generation_leaves_an_audit_entry_per_clinic(clinic):
    make_plan(clinic)
    visits_generate(horizon_days=7)
    entry = LogEntry.objects.filter(object_pk=str(clinic.pk), additional_data__job="generate_visits").get()
    assert entry.additional_data["created"] == 6


@pytest.mark.django_db
def test_generation_query_count_does_not_grow_with_plans(clinic, django_assert_max_num_queries):
    for _ in range(3):
        make_plan(clinic)
    with django_assert_max_num_queries(20) as small:
        visits_generate(horizon_days=14)
    Visit.objects.all().delete()
    for _ in range(30):
        make_plan(clinic)
    with django_assert_max_num_queries(len(small.captured_queries) + 2):
        visits_generate(horizon_days=14)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_generations_create_each_visit_once(clinic):
    plans = [make_plan(clinic) for _ in range(5)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with time_machine.travel(NOW, tick=False):
                barrier.wait()
                visits_generate(horizon_days=28)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert Visit.objects.filter(plan__in=plans).count() == 24 * 5


@pytest.mark.django_db
def test_one_run_over_two_clinics_uses_each_clinics_zone_and_windows(clinic, other_clinic):
    other_clinic.timezone = "America/Los_Angeles"
    other_clinic.save()
    here, there = make_plan(clinic), make_plan(other_clinic, attendance_weekdays=list(range(7)))
    result = visits_generate(horizon_days=7)
    assert result.created == Visit.objects.count() == 6 + 7
    la = ZoneInfo("America/Los_Angeles")
    assert {v.start.astimezone(NY).hour for v in Visit.objects.filter(plan=here)} == {7}
    assert {v.start.astimezone(la).hour for v in Visit.objects.filter(plan=there)} == {7}
    assert {v.clinic_id for v in Visit.objects.filter(plan=there)} == {other_clinic.pk}
    entries = LogEntry.objects.filter(additional_data__job="generate_visits")
    assert sorted(entries.values_list("object_pk", flat=True)) == sorted([str(clinic.pk), str(other_clinic.pk)])


@pytest.mark.django_db
def test_slots_another_run_filled_after_this_one_read_are_skipped_and_not_counted(
    clinic, monkeypatch
):
    plan = make_plan(clinic)
    visits_generate(horizon_days=28)
    gone = list(Visit.objects.filter(plan=plan).order_by("date")[:5].values_list("planned_date", flat=True))
    Visit.objects.filter(plan=plan, planned_date__in=gone).delete()
    # As if the other 19 slots were inserted by a concurrent run between this run's read and its insert.
    monkeypatch.setattr("visits.generation._existing", lambda plan_ids, date_from: {})
    result = visits_generate(horizon_days=28)
    assert result.created == 5 == len(result.created_ids)
    assert Visit.objects.filter(plan=plan).count() == 24
    assert sorted(Visit.objects.filter(pk__in=result.created_ids).values_list("planned_date", flat=True)) == gone


def test_copy_text_escapes_backslash_tab_newline_and_carriage_return_and_writes_null():
    from visits.generation import _CopyText

    texts = _CopyText()
    assert texts["a\\b\tc\nd\re"] == "a\\\\b\\tc\\nd\\re"
    assert texts[None] == "\\N"
    assert texts[3] == "3"
    assert texts[date(2026, 11, 16)] == "2026-11-16"
    assert texts[datetime(2026, 11, 16, 12, 0, tzinfo=ZoneInfo("UTC"))] == "2026-11-16T12:00:00+00:00"


@pytest.mark.django_db
def test_insert_new_writes_what_bulk_create_would_and_returns_the_ids(clinic):
    from visits.generation import NEW_COLUMNS, _insert_new

    plan = make_plan(clinic)
    start = datetime(2026, 11, 16, 12, 0, tzinfo=ZoneInfo("UTC"))
    head = {"patient_id": plan.patient_id, "clinic_id": clinic.pk, "plan_id": plan.pk, "planned_date": MONDAY}
    slots = [
        {"session": 0, "kind": "dose", "start": start, "end": start + timedelta(hours=3), "window_id": None},
        {"session": 1, "kind": "injection", "start": None, "end": None, "window_id": None},
    ]
    days = [
        {"reason": "odd \\ reason\twith\ncontrol\rcharacters", "expected_take_home_doses": 2, "target_date": None},
        {"reason": "", "expected_take_home_doses": 0, "target_date": MONDAY},
    ]
    bounds = [{"earliest": MONDAY, "latest": None}, {"earliest": None, "latest": MONDAY + timedelta(days=7)}]
    values = [{**head, **slot, **day, **bound, "date": MONDAY} for slot, day, bound in zip(slots, days, bounds)]
    rows = [tuple(v[name] for name in NEW_COLUMNS) for v in values]
    ids = _insert_new(rows)
    assert len(ids) == 2
    # Again: both slots are taken, nothing is inserted and no id comes back.
    assert _insert_new(rows) == []
    skip = {"id", "created", "updated"}
    for pk, row in zip(ids, rows, strict=True):
        stored = Visit.objects.get(pk=pk)
        expected = Visit(**dict(zip(NEW_COLUMNS, row, strict=True)), source="plan", status="scheduled")
        for field in Visit._meta.concrete_fields:
            if field.attname not in skip:
                assert getattr(stored, field.attname) == getattr(expected, field.attname), field.attname
        assert stored.created == stored.updated
