"""Capacity in generation (API.md v1.1): generated visits never take a window past its capacity. Oral doses
overflow to the next window offering the service; diamorphine sessions get booth slots inside their window;
a plan or calendar change that leaves a visit without room is refused (409) and nothing is saved; the
rolling job leaves such visits out and tells staff."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command

from scheduler.errors import StateConflict
from scheduler.models import Clinic, DosingWindow, Plan
from tests.factories import PatientFactory, PlanFactory, WindowFactory
from visits.generation import clinic_visits_regenerate, plan_visits_regenerate, visits_generate
from visits.models import StaffTask, Visit

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
MONDAY = date(2026, 12, 7)
TUESDAY = MONDAY + timedelta(days=1)
NOW = datetime(2026, 12, 7, 5, 0, tzinfo=NY)  # before any window opens


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def diamorphine_windows(clinic) -> list[DosingWindow]:
    return list(clinic.windows.filter(services=["diamorphine"]).order_by("start"))


def with_booths(clinic, *, capacity: int, stations: int | None) -> list[DosingWindow]:
    windows = diamorphine_windows(clinic)
    for window in windows:
        window.capacity, window.stations = capacity, stations
        window.save()
    return windows


def diamorphine_plan(clinic, **extra) -> Plan:
    fields = {"doses_per_day": 2, "min_interval_minutes": 180, "start_date": MONDAY, **extra}
    return PlanFactory(patient=PatientFactory(clinic=clinic), medication="diamorphine", **fields)


def oral_plan(clinic) -> Plan:
    return PlanFactory(patient=PatientFactory(clinic=clinic), medication="methadone", start_date=MONDAY,
                       attendance_weekdays=[0, 1, 2, 3, 4, 5])


def per_window_and_date() -> Counter:
    return Counter(Visit.objects.exclude(status="cancelled").values_list("window_id", "date"))


def assert_no_window_over_capacity() -> None:
    capacity = dict(DosingWindow.objects.values_list("id", "capacity"))
    for (window_id, _day), n in per_window_and_date().items():
        assert n <= capacity[window_id]


def assert_booths_respected() -> None:
    """Generated diamorphine sessions start on 30-minute slots: no more at one start than the window's booths."""
    stations = dict(DosingWindow.objects.filter(stations__isnull=False).values_list("id", "stations"))
    sessions = Visit.objects.filter(window_id__in=stations, plan__medication="diamorphine").exclude(status="cancelled")
    for (window_id, _start), n in Counter(sessions.values_list("window_id", "start")).items():
        assert n <= stations[window_id]


def local(instant: datetime) -> time:
    return instant.astimezone(NY).time()


# --- diamorphine booths ------------------------------------------------------------------------------


def test_seven_twice_daily_diamorphine_patients_get_booth_slots_four_at_a_time_with_their_interval(clinic):
    with_booths(clinic, capacity=16, stations=4)  # 4 booths × four 30-minute slots in 08:00–10:00
    plans = [diamorphine_plan(clinic) for _ in range(7)]

    result = visits_generate(horizon_days=7)

    assert result.unplaced == 0
    assert Visit.objects.filter(plan__in=plans).count() == 7 * 2 * 7
    assert_no_window_over_capacity()
    assert_booths_respected()
    monday = Visit.objects.filter(date=MONDAY)
    starts = Counter(local(v.start) for v in monday)
    assert starts == {time(8, 0): 4, time(8, 30): 3, time(14, 0): 4, time(14, 30): 3}
    assert all(v.end.astimezone(NY).time() in (time(10, 0), time(16, 0)) for v in monday)
    by_plan: dict[tuple[int, date], list[datetime]] = defaultdict(list)
    for visit in Visit.objects.filter(plan__in=plans).order_by("start"):
        by_plan[(visit.plan_id, visit.date)].append(visit.start)
    for first, second in by_plan.values():
        assert second - first >= timedelta(minutes=180)


def test_without_stations_a_diamorphine_window_spreads_its_capacity_over_its_slots(clinic):
    with_booths(clinic, capacity=4, stations=None)  # four slots: one booth is enough for 4 sessions
    for _ in range(4):
        diamorphine_plan(clinic, doses_per_day=1)

    visits_generate(horizon_days=1)

    starts = sorted(local(v.start) for v in Visit.objects.filter(date=MONDAY))
    assert starts == [time(8, 0), time(8, 30), time(9, 0), time(9, 30)]


def test_a_pushed_back_morning_session_pushes_the_afternoon_one_to_keep_the_interval(clinic):
    morning, afternoon = with_booths(clinic, capacity=4, stations=1)
    afternoon.start, afternoon.end = time(12, 0), time(16, 0)  # slots 12:00 … 15:30
    afternoon.save()
    plans = [diamorphine_plan(clinic, min_interval_minutes=240) for _ in range(3)]

    visits_generate(horizon_days=1)

    for n, plan in enumerate(plans):
        first, second = Visit.objects.filter(plan=plan, date=MONDAY).order_by("session")
        assert local(first.start) == time(8 + 30 * n // 60, 30 * n % 60)
        assert second.start - first.start >= timedelta(minutes=240)
        assert local(second.start) == (datetime.combine(MONDAY, local(first.start)) + timedelta(hours=4)).time()


def test_running_generation_again_moves_nothing(clinic):
    with_booths(clinic, capacity=16, stations=4)
    for _ in range(7):
        diamorphine_plan(clinic)
    oral_window = clinic.windows.get(start=time(7, 0))
    oral_window.capacity = 2
    oral_window.save()
    WindowFactory(clinic=clinic, weekdays=[0, 1, 2, 3, 4, 5], start=time(13, 0), end=time(15, 0),
                  services=["methadone"], capacity=10)
    for _ in range(3):
        oral_plan(clinic)
    visits_generate(horizon_days=14)
    before = dict(Visit.objects.values_list("id", "start"))

    again = visits_generate(horizon_days=14)

    assert (again.created, again.updated, again.deleted, again.unplaced) == (0, 0, 0, 0)
    assert dict(Visit.objects.values_list("id", "start")) == before


# --- oral overflow --------------------------------------------------------------------------------------


def test_an_oral_dose_whose_window_is_full_goes_to_the_next_window_offering_it(clinic):
    morning = clinic.windows.get(start=time(7, 0))
    morning.capacity = 2
    morning.save()
    afternoon = WindowFactory(clinic=clinic, weekdays=[0, 1, 2, 3, 4, 5], start=time(13, 0), end=time(15, 0),
                              services=["methadone", "buprenorphine"], capacity=10)
    plans = [oral_plan(clinic) for _ in range(3)]

    visits_generate(horizon_days=7)

    first, second, third = (Visit.objects.get(plan=p, date=MONDAY) for p in plans)
    assert {first.window_id, second.window_id} == {morning.pk}
    assert third.window_id == afternoon.pk
    assert (local(third.start), local(third.end)) == (time(13, 0), time(15, 0))
    assert_no_window_over_capacity()


def test_a_visit_booked_by_hand_holds_its_place_and_a_cancelled_one_does_not(clinic):
    morning = clinic.windows.get(start=time(7, 0))
    morning.capacity = 2
    morning.save()
    afternoon = WindowFactory(clinic=clinic, weekdays=[0, 1, 2, 3, 4, 5], start=time(13, 0), end=time(15, 0),
                              services=["methadone"], capacity=10)
    booked = PatientFactory(clinic=clinic)
    for status in ("scheduled", "cancelled", "cancelled"):
        Visit.objects.create(patient=booked, clinic=clinic, kind="counselling", date=MONDAY, window=morning,
                             status=status, source="manual")
    plans = [oral_plan(clinic) for _ in range(2)]

    visits_generate(horizon_days=1)

    assert [Visit.objects.get(plan=p).window_id for p in plans] == [morning.pk, afternoon.pk]


# --- refusals -------------------------------------------------------------------------------------------


def test_a_plan_that_cannot_be_placed_is_refused_through_the_api_and_nothing_is_saved(api_as, clinic):
    with_booths(clinic, capacity=4, stations=None)
    for _ in range(4):
        diamorphine_plan(clinic, start_date=TUESDAY)
    visits_generate()
    patient = PatientFactory(clinic=clinic)
    plans, visits = Plan.objects.count(), Visit.objects.count()

    response = api_as("clinician").post(
        "/api/v1/plans/",
        {"patient": patient.pk, "medication": "diamorphine", "doses_per_day": 2, "min_interval_minutes": 180,
         "start_date": MONDAY.isoformat()},
        format="json",
    )

    assert response.status_code == 409, response.json()
    # Monday has room (the other plans start on Tuesday): the first full date is named, with its windows.
    assert response.json() == {
        "detail": "No room for this plan: the 08:00–10:00 diamorphine window on Tue 8 Dec is full (4 of 4); "
        "the 14:00–16:00 diamorphine window on Tue 8 Dec is full (4 of 4)."
    }
    assert (Plan.objects.count(), Visit.objects.count()) == (plans, visits)


def test_changing_a_plan_so_it_no_longer_fits_is_refused(api_as, clinic):
    with_booths(clinic, capacity=4, stations=None)
    for _ in range(4):
        diamorphine_plan(clinic)
    methadone = oral_plan(clinic)
    visits_generate()
    before = Visit.objects.filter(plan=methadone).count()

    response = api_as("clinician").patch(
        f"/api/v1/plans/{methadone.pk}/", {"medication": "diamorphine", "doses_per_day": 2,
                                           "min_interval_minutes": 180}, format="json"
    )

    assert response.status_code == 409, response.json()
    assert "the 08:00–10:00 diamorphine window on Mon 7 Dec is full (4 of 4)" in response.json()["detail"]
    methadone.refresh_from_db()
    assert methadone.medication == "methadone"
    assert Visit.objects.filter(plan=methadone).count() == before


def test_lowering_a_windows_capacity_below_what_is_booked_is_refused(api_as, clinic):
    windows = with_booths(clinic, capacity=4, stations=None)
    for _ in range(3):
        diamorphine_plan(clinic)
    visits_generate()

    response = api_as("admin").patch(
        f"/api/v1/clinics/{clinic.pk}/windows/{windows[0].pk}/", {"capacity": 2}, format="json"
    )

    assert response.status_code == 409, response.json()
    assert response.json()["detail"].startswith("No room after this change for the visits of plan #")
    # The third patient's morning session no longer fits, and the afternoon has no slot late enough for a
    # second session after it.
    assert response.json()["detail"].endswith(
        "no diamorphine booth slot on Mon 7 Dec at least 180 minutes after the session at 15:00, "
        "as the 08:00–10:00 diamorphine window on Mon 7 Dec is full (2 of 2)."
    )
    windows[0].refresh_from_db()
    assert windows[0].capacity == 4


def test_lowering_capacity_below_visits_booked_by_hand_is_refused_too(api_as, clinic):
    window = clinic.windows.get(start=time(11, 0))
    for _ in range(3):
        patient = PatientFactory(clinic=clinic)
        Visit.objects.create(patient=patient, clinic=clinic, kind="counselling", date=TUESDAY, window=window,
                             source="manual", edited=True)

    response = api_as("admin").patch(f"/api/v1/clinics/{clinic.pk}/windows/{window.pk}/", {"capacity": 2},
                                     format="json")

    assert response.status_code == 409, response.json()
    assert "window on Tue 8 Dec with 3 visits booked" in response.json()["detail"]
    window.refresh_from_db()
    assert window.capacity == 6


def test_deleting_a_window_whose_visits_have_nowhere_else_to_go_is_refused(api_as, clinic):
    morning = clinic.windows.get(start=time(7, 0))
    spare = WindowFactory(clinic=clinic, weekdays=[0, 1, 2, 3, 4, 5], start=time(13, 0), end=time(15, 0),
                          services=["methadone"], capacity=1)
    plans = [oral_plan(clinic) for _ in range(2)]
    visits_generate(horizon_days=7)

    response = api_as("admin").delete(f"/api/v1/clinics/{clinic.pk}/windows/{morning.pk}/")

    assert response.status_code == 409, response.json()
    assert "the 13:00–15:00 methadone window on Mon 7 Dec is full (1 of 1)" in response.json()["detail"]
    assert DosingWindow.objects.filter(pk=morning.pk).exists()
    assert set(Visit.objects.filter(plan__in=plans).values_list("window_id", flat=True)) == {morning.pk}
    assert spare.pk  # untouched


def test_a_closure_that_moves_an_injection_to_a_full_day_is_refused(api_as, clinic):
    window = clinic.windows.get(start=time(11, 0))  # injections and appointments, Mon–Fri, 6 places
    wednesday, thursday = MONDAY + timedelta(days=2), MONDAY + timedelta(days=3)
    for _ in range(window.capacity):
        Visit.objects.create(patient=PatientFactory(clinic=clinic), clinic=clinic, kind="counselling", date=thursday,
                             window=window, source="manual", edited=True)
    plan = PlanFactory(patient=PatientFactory(clinic=clinic), medication="naltrexone_xr", start_date=wednesday)
    plan_visits_regenerate(plan=plan)
    assert Visit.objects.get(plan=plan).date == wednesday

    response = api_as("admin").post(f"/api/v1/clinics/{clinic.pk}/closures/",
                                    {"date": wednesday.isoformat(), "reason": "Staff training",
                                     "services": ["naltrexone_xr"]}, format="json")

    # The engine moves the injection to the nearest open day after the plan's start: Thursday, which is full.
    assert response.status_code == 409, response.json()
    assert "the 11:00–13:00 naltrexone XR window on Thu 10 Dec is full (6 of 6)" in response.json()["detail"]
    assert not clinic.closures.filter(date=wednesday).exists()
    assert Visit.objects.get(plan=plan).date == wednesday


def test_regenerating_a_plan_directly_raises_a_state_conflict_with_status_409(clinic):
    with_booths(clinic, capacity=1, stations=None)
    diamorphine_plan(clinic)  # both windows, every date
    visits_generate(horizon_days=3)
    late = diamorphine_plan(clinic, doses_per_day=1)

    with pytest.raises(StateConflict) as refused:
        plan_visits_regenerate(plan=late, horizon_days=3)

    assert refused.value.status_code == 409
    assert "Mon 7 Dec" in refused.value.message
    assert not Visit.objects.filter(plan=late).exists()


# --- the rolling job ------------------------------------------------------------------------------------


def test_the_job_leaves_out_what_does_not_fit_tells_staff_once_and_logs_no_names(clinic, caplog):
    with_booths(clinic, capacity=4, stations=None)
    plans = [diamorphine_plan(clinic) for _ in range(5)]
    left_out = plans[-1]

    with caplog.at_level(logging.WARNING, logger="visits.generation"):
        result = visits_generate(horizon_days=3)

    assert result.unplaced == 3 * 2  # two sessions on each of three dates
    assert not Visit.objects.filter(plan=left_out).exists()
    assert Visit.objects.filter(plan__in=plans[:4]).count() == 4 * 2 * 3
    assert_no_window_over_capacity()
    task = StaffTask.objects.get(kind="unplaced_visit")
    assert (task.clinic_id, task.patient_id, task.done_at) == (clinic.pk, left_out.patient_id, None)
    assert "No room for 6 visits of the diamorphine plan" in task.detail
    assert "08:00–10:00 diamorphine window on Mon 7 Dec is full (4 of 4)" in task.detail
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "6 visits left out" in warnings[0]
    assert left_out.patient.last_name not in warnings[0] and left_out.patient.first_name not in warnings[0]

    again = visits_generate(horizon_days=3)
    assert again.unplaced == 6
    assert StaffTask.objects.filter(kind="unplaced_visit").count() == 1


def test_the_job_places_left_out_visits_once_there_is_room(clinic):
    plans = [diamorphine_plan(clinic) for _ in range(5)]
    with_booths(clinic, capacity=4, stations=None)
    visits_generate(horizon_days=3)
    with_booths(clinic, capacity=5, stations=None)

    result = visits_generate(horizon_days=3)

    assert result.unplaced == 0
    assert Visit.objects.filter(plan=plans[-1]).count() == 2 * 3


def test_the_job_removes_a_visit_whose_window_shrank_behind_its_back_and_tells_staff(clinic):
    windows = with_booths(clinic, capacity=4, stations=None)
    plans = [diamorphine_plan(clinic) for _ in range(4)]
    visits_generate(horizon_days=1)
    DosingWindow.objects.filter(pk=windows[0].pk).update(capacity=3)  # not through the services

    result = visits_generate(horizon_days=1)

    assert result.unplaced == 1 and result.deleted == 1
    assert Visit.objects.filter(plan__in=plans).count() == 7
    assert_no_window_over_capacity()
    assert StaffTask.objects.filter(kind="unplaced_visit").count() == 1


def test_a_calendar_change_through_generation_with_refuse_off_leaves_out_instead(clinic):
    with_booths(clinic, capacity=1, stations=None)
    for _ in range(3):
        diamorphine_plan(clinic, doses_per_day=1)

    result = clinic_visits_regenerate(clinic=clinic, refuse=False)

    assert result.unplaced > 0
    assert_no_window_over_capacity()


# --- seeded data -------------------------------------------------------------------------------------


def test_seed_scale_sizes_its_windows_so_its_rows_and_a_later_generation_stay_within_capacity():
    call_command("seed_scale", "--clinics", "1", "--patients", "150", "--days", "7", "--future", "3",
                 "--no-progress", stdout=StringIO())
    clinic = Clinic.objects.get(name__startswith="Scale clinic")
    assert Plan.objects.filter(patient__clinic=clinic, medication="diamorphine").count() > 3
    assert_no_window_over_capacity()
    assert_booths_respected()

    result = visits_generate(horizon_days=14)

    assert result.unplaced == 0 and result.created > 0
    assert_no_window_over_capacity()
    assert_booths_respected()


# --- cost -------------------------------------------------------------------------------------------


def test_generation_queries_do_not_grow_with_windows_or_plans(
    clinic, django_assert_max_num_queries
):
    with_booths(clinic, capacity=40, stations=10)
    for _ in range(2):
        oral_plan(clinic)
        diamorphine_plan(clinic)
    with django_assert_max_num_queries(30) as small:
        visits_generate(horizon_days=14)
    Visit.objects.all().delete()
    for hour in range(8):
        WindowFactory(clinic=clinic, weekdays=[0, 1, 2, 3, 4, 5], start=time(15 + hour // 2, 30 * (hour % 2)),
                      end=time(15 + hour // 2, 30 * (hour % 2) + 29), services=["buprenorphine"], capacity=3)
    for _ in range(20):
        oral_plan(clinic)
        diamorphine_plan(clinic)

    with django_assert_max_num_queries(len(small.captured_queries)):
        result = visits_generate(horizon_days=14)

    assert result.unplaced == 0 and result.created > 0
