"""The dosing guard on the pages (issue #11 part 5): the today board and the patient page say what blocks a dose
before anyone clicks, the complete form carries a clinician's take-home reason, refusals keep what was typed,
clinicians approve or suspend take-homes, and the admin shows a refused save instead of a server error."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from auditlog.models import LogEntry
from django.test import Client

from scheduler.models import DosingWindow, Plan
from tests.factories import PatientFactory, PlanFactory, UserFactory
from tests.web.conftest import TODAY
from visits.generation import visits_generate
from visits.models import Escalation, Visit

pytestmark = pytest.mark.django_db

SUNDAY, TUESDAY, THURSDAY = date(2026, 11, 15), date(2026, 11, 17), date(2026, 11, 19)


def _hold(plan: Plan, *, kind: str = "hold") -> Escalation:
    return Escalation.objects.create(
        patient=plan.patient, plan=plan, clinic=plan.patient.clinic, kind=kind,
        reason="3 consecutive days without medication", consecutive_missed=3, anchor_date=date(2026, 11, 12),
    )


def _taken(plan: Plan, day: date, *, take_homes: int = 0, kind: str = "dose") -> Visit:
    """A dose (or injection) given on `day`, with the take-homes handed out then."""
    return Visit.objects.create(
        patient=plan.patient, clinic=plan.patient.clinic, plan=plan, kind=kind, date=day, status="completed",
        source="manual", take_home_doses=take_homes,
        covered_through=day + timedelta(days=take_homes) if kind == "dose" else None,
        completed_at=datetime.combine(day, time(13, 0), tzinfo=UTC),
    )


@pytest.fixture
def naltrexone(plan) -> Plan:
    """The same patient's monthly naltrexone injection plan: a second plan, another medication."""
    return PlanFactory(patient=plan.patient, medication="naltrexone_xr", interval_days=28, attendance_weekdays=[])


def _row(html: str, visit: Visit) -> str:
    match = re.search(rf'<tr id="visit-{visit.pk}".*?</tr>', html, re.S)
    assert match, f"no row for visit {visit.pk}"
    return match.group(0)


# --- the today board ------------------------------------------------------------------------------


def test_a_hold_on_another_plan_blocks_the_dose_and_the_board_says_so_beside_the_name(
    client_as, clinic, plan, naltrexone, today_visit
):
    _hold(naltrexone)
    client = client_as("nurse")
    row = _row(client.get(f"/clinics/{clinic.pk}/today/").content.decode(), today_visit)
    assert 'class="badge badge-on_hold">On hold<' in row
    assert f'id="why-{today_visit.pk}"' in row and "plan on hold: hold since Mon 16 Nov" in row
    # The complete button is marked, tied to the reason, and still a button in a form (the server decides).
    assert f'<button type="submit" class="blocked" aria-describedby="why-{today_visit.pk}">Complete' in row
    assert "(blocked)</button>" in row
    assert client.get(f"/clinics/{clinic.pk}/today/counts/").json()["on_hold"] == 1
    response = client.post(f"/visits/{today_visit.pk}/complete/", {"take_home_doses": "0"})
    assert response.status_code == 409
    assert "plan on hold" in _row(response.content.decode(), today_visit)
    assert Visit.objects.get(pk=today_visit.pk).status == "scheduled"


def test_a_date_covered_by_take_homes_is_blocked_on_the_board_with_the_date(client_as, clinic, plan, today_visit):
    _taken(plan, SUNDAY, take_homes=2)  # Sunday's take-homes cover Monday and Tuesday
    client = client_as("nurse")
    row = _row(client.get(f"/clinics/{clinic.pk}/today/").content.decode(), today_visit)
    assert 'class="badge badge-blocked">Blocked<' in row
    assert "Mon 16 Nov is covered by take-homes until Tue 17 Nov (2 handed out on Sun 15 Nov)" in row
    counts = client.get(f"/clinics/{clinic.pk}/today/counts/").json()
    assert (counts["blocked"], counts["expected"], counts["on_hold"]) == (1, 0, 0)
    response = client.post(f"/visits/{today_visit.pk}/complete/", {"take_home_doses": "0"})
    assert response.status_code == 409 and "covered by take-homes until Tue 17 Nov" in response.content.decode()


def test_a_row_nothing_blocks_has_no_reason_and_a_plain_complete_button(client_as, clinic, today_visit):
    row = _row(client_as("nurse").get(f"/clinics/{clinic.pk}/today/").content.decode(), today_visit)
    assert "Not now" not in row and 'class="blocked"' not in row
    assert 'class="primary" aria-label="Complete visit for Jordan Okafor">Complete</button>' in row


def test_the_board_query_count_stays_fixed_when_the_guard_blocks_rows(
    client_as, clinic, morning, django_assert_max_num_queries
):
    for i in range(10):
        plan = PlanFactory(patient=PatientFactory(clinic=clinic), start_date=date(2026, 11, 1))
        visits_generate(plans=[plan], today=TODAY, horizon_days=1)
        if i % 2:
            _taken(plan, SUNDAY, take_homes=1)
        if i % 3 == 0:
            injection = PlanFactory(patient=plan.patient, medication="naltrexone_xr", interval_days=28)
            _hold(injection)
    client = client_as("nurse")
    with django_assert_max_num_queries(16):  # 14; issue #16: the day's counts and headings, the plans' medications
        html = client.get(f"/clinics/{clinic.pk}/today/").content.decode()
    assert html.count("badge badge-on_hold") == 4 and html.count("badge badge-blocked") == 3


def test_planned_take_homes_for_checked_in_rows_cost_the_same_for_two_rows_or_ten(
    client_as, clinic, morning, monkeypatch
):
    from django.core.cache.backends.locmem import LocMemCache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from web import selectors

    # Both pages computed (issue #16 shares the ledger's answers between pages through the cache): a fresh one each.
    fresh = iter(LocMemCache(f"board-{n}", {}) for n in range(3))
    monkeypatch.setattr(selectors, "cache", next(fresh))

    def checked_in_rows(n):
        for _ in range(n):
            plan = PlanFactory(patient=PatientFactory(clinic=clinic), start_date=date(2026, 11, 1),
                               attendance_weekdays=[0, 3])
            visits_generate(plans=[plan], today=TODAY, horizon_days=1)
        Visit.objects.filter(clinic=clinic, date=TODAY, status="scheduled").update(status="checked_in")

    client = client_as("nurse")
    checked_in_rows(2)
    client.get(f"/clinics/{clinic.pk}/today/")
    monkeypatch.setattr(selectors, "cache", next(fresh))
    with CaptureQueriesContext(connection) as two:
        client.get(f"/clinics/{clinic.pk}/today/")
    checked_in_rows(8)
    monkeypatch.setattr(selectors, "cache", next(fresh))
    with CaptureQueriesContext(connection) as ten:
        html = client.get(f"/clinics/{clinic.pk}/today/").content.decode()
    assert len(ten.captured_queries) == len(two.captured_queries)
    assert html.count("Planned take-homes: 2") == 10


# --- take-homes at the window ----------------------------------------------------------------------


def test_the_nurse_sees_the_planned_take_homes_and_no_reason_field(client_as, clinic, plan, morning):
    # Mondays and Thursdays: Tuesday and Wednesday are the take-homes the calendar expects at today's visit.
    Plan.objects.filter(pk=plan.pk).update(attendance_weekdays=[0, 3])
    plan.refresh_from_db()
    visits_generate(plans=[plan], today=TODAY, horizon_days=7)
    visit = Visit.objects.get(plan=plan, date=TODAY)
    row = _row(client_as("nurse").get(f"/clinics/{clinic.pk}/today/").content.decode(), visit)
    assert f'<span class="small planned" id="planned-{visit.pk}">Planned take-homes: 2</span>' in row
    assert 'name="take_home_doses"' in row and 'value="2"' in row
    assert 'name="take_home_reason"' not in row


def test_a_checked_in_row_shows_what_the_calendar_expects_now(client_as, clinic, plan, today_visit):
    """Generated on an every-day plan (0 take-homes); the clinician changed it to Mon/Thu since: the patient at
    the window is told the calendar's number now, the number the guard holds the completion to."""
    client_as("front_desk").post(f"/visits/{today_visit.pk}/check-in/")
    Plan.objects.filter(pk=plan.pk).update(attendance_weekdays=[0, 3])
    assert Visit.objects.get(pk=today_visit.pk).expected_take_home_doses == 0
    row = _row(client_as("nurse").get(f"/clinics/{clinic.pk}/today/").content.decode(), today_visit)
    assert "Planned take-homes: 2" in row


def test_a_clinician_completes_with_more_take_homes_than_planned_giving_a_reason(client_as, clinic, today_visit):
    client = client_as("clinician")
    row = _row(client.get(f"/clinics/{clinic.pk}/today/").content.decode(), today_visit)
    assert f'<label for="thr-{today_visit.pk}" class="small">Reason (if more take-homes than planned)</label>' in row
    assert "Planned take-homes: 0" in row
    response = client.post(
        f"/visits/{today_visit.pk}/complete/",
        {"take_home_doses": "2", "take_home_reason": "Travel to a family funeral"},
        follow=True,
    )
    assert response.status_code == 200
    assert (
        "Completed: Jordan Okafor with 2 take-home doses (reason: Travel to a family funeral)."
        in response.content.decode()
    )
    today_visit.refresh_from_db()
    assert (today_visit.status, today_visit.take_home_doses) == ("completed", 2)
    assert today_visit.status_reason == "take-homes: Travel to a family funeral"
    assert Visit.objects.get(plan=today_visit.plan, date=TUESDAY).status == "excused"


def test_a_nurse_above_the_calendar_is_refused_and_the_typed_number_stays(client_as, clinic, today_visit):
    response = client_as("nurse").post(f"/visits/{today_visit.pk}/complete/", {"take_home_doses": "2"})
    assert response.status_code == 409
    row = _row(response.content.decode(), today_visit)
    assert "the plan&#x27;s calendar expects 0 take-home doses at this visit on Mon 16 Nov, not 2" in row
    assert "only a clinician can hand out more, with a reason" in row
    assert f'id="th-{today_visit.pk}" name="take_home_doses"' in row
    assert 'value="2"' in row and 'value="0"' not in row  # the field does not reset to the plan's 0
    assert 'aria-invalid="true"' in row and f"planned-{today_visit.pk} err-{today_visit.pk}" in row
    assert Visit.objects.get(pk=today_visit.pk).status == "scheduled"


def test_a_clinician_without_a_reason_is_asked_for_one_and_keeps_the_number(client_as, clinic, today_visit):
    response = client_as("clinician").post(
        f"/visits/{today_visit.pk}/complete/", {"take_home_doses": "3", "take_home_reason": "   "}
    )
    assert response.status_code == 409
    row = _row(response.content.decode(), today_visit)
    assert "give a take_home_reason to hand out more" in row and 'value="3"' in row


def test_a_refusal_over_the_limit_keeps_the_clinicians_reason(client_as, clinic, today_visit):
    response = client_as("clinician").post(
        f"/visits/{today_visit.pk}/complete/", {"take_home_doses": "10", "take_home_reason": "Long trip"}
    )
    assert response.status_code == 400
    row = _row(response.content.decode(), today_visit)
    assert 'value="10"' in row and 'value="Long trip"' in row


def test_a_reason_longer_than_300_characters_is_refused_inline(client_as, clinic, today_visit):
    response = client_as("clinician").post(
        f"/visits/{today_visit.pk}/complete/", {"take_home_doses": "2", "take_home_reason": "x" * 301}
    )
    assert response.status_code == 400
    assert "Reason: Ensure this value has at most 300 characters" in response.content.decode()
    assert Visit.objects.get(pk=today_visit.pk).status == "scheduled"


# --- the patient page -------------------------------------------------------------------------------


def test_the_patient_page_says_why_no_dose_can_be_given_today(client_as, clinic, plan, naltrexone, today_visit):
    _taken(plan, SUNDAY, take_homes=2)
    _taken(naltrexone, date(2026, 11, 6), kind="injection")
    html = client_as("nurse").get(f"/patients/{plan.patient_id}/").content.decode()
    assert "Dosing today" in html
    methadone = re.search(rf'<li id="dosing-plan-{plan.pk}">.*?</li>', html, re.S).group(0)
    assert "visit today, scheduled" in methadone
    assert "covered by take-homes until Tue 17 Nov" in methadone
    injection = re.search(rf'<li id="dosing-plan-{naltrexone.pk}">.*?</li>', html, re.S).group(0)
    assert "no visit today" in injection
    assert "last injection Fri 6 Nov, 10 days ago; next from" in injection
    # Today's visit in "Next visits" carries its own reason; Wednesday's is free.
    assert "covered by take-homes until Tue 17 Nov" in re.search(
        rf'<li id="next-visit-{today_visit.pk}">.*?</li>', html, re.S
    ).group(0)
    wednesday = Visit.objects.get(plan=plan, date=date(2026, 11, 18))
    assert "Not now" not in re.search(rf'<li id="next-visit-{wednesday.pk}">.*?</li>', html, re.S).group(0)


def test_a_hold_on_one_plan_shows_on_every_plans_dosing_line(client_as, clinic, plan, naltrexone, today_visit):
    _hold(naltrexone)
    html = client_as("front_desk").get(f"/patients/{plan.patient_id}/").content.decode()
    for p in (plan, naltrexone):
        line = re.search(rf'<li id="dosing-plan-{p.pk}">.*?</li>', html, re.S).group(0)
        assert "plan on hold: hold since Mon 16 Nov" in line


def test_nothing_blocking_says_so(client_as, clinic, plan, today_visit):
    html = client_as("nurse").get(f"/patients/{plan.patient_id}/").content.decode()
    assert "Nothing blocks a dose today" in html and "Not now" not in html


def test_only_clinicians_and_admins_get_the_take_home_decision_form(client_as, clinic, plan, naltrexone, morning):
    for role in ("clinician", "admin"):
        html = client_as(role).get(f"/patients/{plan.patient_id}/").content.decode()
        assert "Approve take-homes" in html and "Suspend take-homes" in html
        assert f'id="th-note-{plan.pk}"' in html
        assert f'id="th-note-{naltrexone.pk}"' not in html  # injections have no take-homes
    for role in ("front_desk", "nurse", "manager"):
        html = client_as(role).get(f"/patients/{plan.patient_id}/").content.decode()
        assert "Take-homes:" in html and "approved" in html
        assert "Suspend take-homes" not in html and f"/plans/{plan.pk}/takehome-review/" not in html
        response = client_as(role).post(f"/plans/{plan.pk}/takehome-review/", {"approved": "0", "from": "patient"})
        assert response.status_code == 403
    plan.refresh_from_db()
    assert plan.takehome_approved is True


def test_a_clinician_suspends_and_approves_take_homes_with_a_note_and_it_is_audited(
    client_as, clinic, plan, staff, morning
):
    Plan.objects.filter(pk=plan.pk).update(attendance_weekdays=[0, 3])
    client = client_as("clinician")
    response = client.post(
        f"/plans/{plan.pk}/takehome-review/",
        {"approved": "0", "note": "Unstable this week", "from": "patient"},
        follow=True,
    )
    html = response.content.decode()
    assert "Take-home review recorded for MRN MRN-4711. Take-homes suspended." in html
    assert "suspended since 2026-11-16" in html and "note: Unstable this week" in html
    plan.refresh_from_db()
    assert (plan.takehome_approved, plan.takehome_suspended_on) == (False, TODAY)
    # The calendar follows at once: Tuesday, a take-home day, is a visit day while take-homes are suspended.
    assert Visit.objects.filter(plan=plan, date=TUESDAY).exists()
    entries = LogEntry.objects.filter(content_type__model="plan", object_pk=str(plan.pk)).order_by("-id")
    decision = next(e for e in entries if "takehome_approved" in e.changes_dict)
    assert decision.actor == staff["clinician"] and decision.changes_dict["takehome_note"][1] == "Unstable this week"

    client.post(f"/plans/{plan.pk}/takehome-review/", {"approved": "1", "note": "Stable again", "from": "patient"})
    plan.refresh_from_db()
    assert (plan.takehome_approved, plan.takehome_suspended_on, plan.takehome_note) == (True, None, "Stable again")
    assert not Visit.objects.filter(plan=plan, date=TUESDAY, status="scheduled").exists()


def test_a_refused_take_home_decision_shows_the_rule_and_keeps_the_note(client_as, clinic, plan, morning):
    Plan.objects.filter(pk=plan.pk).update(status="ended")
    response = client_as("clinician").post(
        f"/plans/{plan.pk}/takehome-review/", {"approved": "1", "note": "Checked with pharmacy", "from": "patient"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "This plan is ended: only an active plan&#x27;s take-homes are reviewed." in html
    plan.refresh_from_db()
    assert plan.takehome_note == ""


def test_an_unknown_decision_is_refused(client_as, clinic, plan, morning):
    response = client_as("clinician").post(
        f"/plans/{plan.pk}/takehome-review/", {"approved": "maybe", "note": "hm", "from": "patient"}
    )
    html = response.content.decode()
    assert response.status_code == 400 and "Choose approve or suspend." in html
    assert f'id="th-note-{plan.pk}" name="note" type="text" maxlength="300" value="hm"' in html


# --- the admin --------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(db) -> Client:
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    user.save()
    client = Client()
    client.force_login(user)
    return client


def test_an_admin_window_change_that_leaves_visits_without_room_shows_the_message_not_a_500(
    admin_client, clinic, morning
):
    window = DosingWindow.objects.get(clinic=clinic, services=["methadone", "buprenorphine"])
    for name in ("Ames", "Boyd"):
        p = PlanFactory(patient=PatientFactory(clinic=clinic, last_name=name), start_date=TODAY)
        visits_generate(plans=[p], today=TODAY, horizon_days=7)
    data = {
        "clinic": clinic.pk, "weekdays": "[0, 1, 2, 3, 4, 5]", "start": "07:00", "end": "10:00",
        "services": '["methadone", "buprenorphine"]', "capacity": "1", "stations": "", "minutes_per_visit": "",
    }
    response = admin_client.post(f"/admin/scheduler/dosingwindow/{window.pk}/change/", data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "No room" in html and "Nothing was saved" in html
    assert 'name="capacity" value="1"' in html  # what the admin typed stays in the form
    window.refresh_from_db()
    assert window.capacity == 50


def _admin_start_fields(client: Client, visit: Visit) -> dict[str, str]:
    html = client.get(f"/admin/visits/visit/{visit.pk}/change/").content.decode()
    return {name: re.search(rf'name="{name}" value="([^"]*)"', html).group(1) for name in ("start_0", "start_1")}


def test_moving_a_visit_in_the_admin_goes_through_the_guard(admin_client, clinic, plan, morning):
    Plan.objects.filter(pk=plan.pk).update(attendance_weekdays=[0, 3])
    plan.refresh_from_db()
    visits_generate(plans=[plan], today=TODAY, horizon_days=7)
    thursday = Visit.objects.get(plan=plan, date=THURSDAY)
    _taken(plan, date(2026, 11, 14), take_homes=4)  # Saturday's take-homes cover through Wednesday
    Visit.objects.filter(plan=plan, date=TODAY).update(status="excused")
    fields = _admin_start_fields(admin_client, thursday)
    response = admin_client.post(
        f"/admin/visits/visit/{thursday.pk}/change/", {"date": "2026-11-17", **fields, "reason": ""}
    )
    assert response.status_code == 200
    assert "covered by take-homes until Wed 18 Nov" in response.content.decode()
    thursday.refresh_from_db()
    assert (thursday.date, thursday.edited) == (THURSDAY, False)

    response = admin_client.post(
        f"/admin/visits/visit/{thursday.pk}/change/", {"date": "2026-11-20", **fields, "reason": "asked by phone"}
    )
    assert response.status_code == 302
    thursday.refresh_from_db()
    assert (thursday.date, thursday.edited, thursday.reason) == (date(2026, 11, 20), True, "asked by phone")
    assert thursday.start is not None and thursday.start.date() == date(2026, 11, 20)


def test_the_admin_cannot_change_a_visits_kind_or_status(admin_client, clinic, today_visit):
    html = admin_client.get(f"/admin/visits/visit/{today_visit.pk}/change/").content.decode()
    assert 'name="kind"' not in html and 'name="status"' not in html and 'name="window"' not in html
    assert 'name="date"' in html


# --- every rule through the page's complete form (the same service and guard as the API) -------------------


def _window(clinic, service: str) -> DosingWindow:
    return clinic.windows.filter(services__contains=[service]).order_by("start").first()


def _open(plan: Plan, window: DosingWindow, *, day: date = TODAY, status: str = "checked_in") -> Visit:
    from scheduler.timeutil import local_instant

    tz = plan.patient.clinic.timezone
    return Visit.objects.create(
        patient=plan.patient, clinic=plan.patient.clinic, plan=plan, kind="dose", date=day, window=window,
        start=local_instant(day, window.start, tz), end=local_instant(day, window.end, tz), status=status,
        source="manual",
    )


def test_each_guard_rule_is_refused_through_the_page_with_its_reason(client_as, clinic, plan, morning):
    nurse = client_as("nurse")
    # One dose a day across plans: a second methadone plan (legacy data) already dosed today.
    second = PlanFactory(patient=plan.patient, medication="methadone", start_date=date(2026, 11, 10))
    _taken(second, TODAY)
    visit = _open(plan, _window(clinic, "methadone"))
    response = nurse.post(f"/visits/{visit.pk}/complete/", {"take_home_doses": "0"})
    assert response.status_code == 409
    assert "already given on Mon 16 Nov" in response.content.decode()

    # Sublocade ten days after the last injection.
    sublocade = PlanFactory(patient=PatientFactory(clinic=clinic), medication="buprenorphine_xr_monthly",
                            start_date=date(2026, 10, 1))
    _taken(sublocade, TODAY - timedelta(days=10), kind="injection")
    injection = _open(sublocade, _window(clinic, "buprenorphine_xr_monthly"))
    Visit.objects.filter(pk=injection.pk).update(kind="injection")
    response = client_as("clinician").post(f"/visits/{injection.pk}/complete/", {"take_home_doses": ""})
    assert response.status_code == 409
    assert "Sublocade: at least 26 days between injections (label)" in response.content.decode()

    # Diamorphine 2 minutes after the last session, and under a re-titration flag.
    diamorphine = PlanFactory(patient=PatientFactory(clinic=clinic), medication="diamorphine", doses_per_day=2,
                              min_interval_minutes=360, start_date=date(2026, 11, 10))
    Visit.objects.create(
        patient=diamorphine.patient, clinic=clinic, plan=diamorphine, kind="dose", date=TODAY, status="completed",
        source="manual", completed_at=datetime(2026, 11, 16, 12, 58, tzinfo=UTC),
    )
    session = _open(diamorphine, _window(clinic, "diamorphine"))
    response = nurse.post(f"/visits/{session.pk}/complete/", {"take_home_doses": ""})
    assert response.status_code == 409
    assert "at least 6 h 00 min between sessions" in response.content.decode()
    _hold(diamorphine, kind="retitration")
    response = nurse.post(f"/visits/{session.pk}/complete/", {"take_home_doses": ""})
    assert "re-titration" in response.content.decode()
    assert Visit.objects.filter(pk__in=[visit.pk, injection.pk, session.pk], status="completed").count() == 0
