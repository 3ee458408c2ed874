"""GET /api/v1/reports/reminders/: attendance with a delivered reminder versus without, Wilson intervals,
small groups said plainly, visits whose reminder was never due left out; roles and isolation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from notifications.models import Message
from tests.factories import ClinicFactory, PatientFactory, PlanFactory
from visits.models import Visit
from visits.retention import wilson_interval

pytestmark = [pytest.mark.usefixtures("frozen"), pytest.mark.django_db]

URL = "/api/v1/reports/reminders/"
DAY = date(2026, 10, 5)


def visits(plan, kind: str, statuses: list[str], reminder: str | None) -> None:
    for n, status in enumerate(statuses):
        v = Visit.objects.create(
            patient=plan.patient,
            clinic=plan.patient.clinic,
            plan=plan,
            kind=kind,
            source="manual",
            date=DAY + timedelta(days=n % 20),
            session=n // 20,
            status=status,
        )
        if reminder is not None:
            Message.objects.create(
                patient=plan.patient,
                visit=v,
                purpose="reminder",
                slot=f"1d{n}",
                status=reminder,
                scheduled_for=datetime(2026, 10, 1, 15, tzinfo=UTC),
            )


@pytest.fixture
def ledger(clinic):
    plan = PlanFactory(patient=PatientFactory(clinic=clinic), medication="naltrexone_xr")
    visits(plan, "injection", ["completed"] * 30 + ["missed"] * 10, reminder="delivered")  # 30/40
    visits(plan, "injection", ["completed"] * 20 + ["missed"] * 10, reminder="skipped")  # 20/30
    visits(plan, "injection", ["missed"] * 5, reminder=None)  # no reminder was due: left out
    visits(plan, "counselling", ["completed"] * 3, reminder="sent")
    return plan


def params(clinic, **extra):
    return {"clinic": clinic.pk, "date_from": "2026-10-01", "date_to": "2026-10-31", **extra}


def test_it_compares_delivered_with_not_delivered_with_wilson_intervals(api_as, clinic, ledger):
    body = api_as("manager").get(URL, params(clinic)).json()
    naltrexone = next(g for g in body["groups"] if g["service"] == "naltrexone_xr")
    reminded, not_reminded = naltrexone["reminded"], naltrexone["not_reminded"]
    assert (reminded["visits"], reminded["attended"], reminded["rate"]) == (40, 30, 0.75)
    low, high = wilson_interval(30, 40)
    assert (reminded["lower"], reminded["upper"]) == (round(low, 4), round(high, 4))
    # the 5 visits without any reminder due are not in "without": 20 attended of 30
    assert (not_reminded["visits"], not_reminded["missed"], not_reminded["too_small"]) == (30, 10, False)
    assert not_reminded["rate"] == pytest.approx(0.6667, abs=1e-4)
    assert "association" in body["caveat"]


def test_a_group_under_thirty_visits_gives_counts_and_says_so_instead_of_a_rate(api_as, clinic, ledger):
    body = api_as("clinician").get(URL, params(clinic)).json()
    counselling = next(g for g in body["groups"] if g["service"] == "counselling")
    assert counselling["reminded"]["attended"] == 3
    assert counselling["reminded"]["too_small"] is True
    assert counselling["reminded"]["rate"] is None
    assert "Fewer than 30" in counselling["reminded"]["note"]
    assert counselling["not_reminded"]["visits"] == 0


def test_front_desk_may_not_read_it_and_another_clinic_is_404(api_as, clinic, ledger):
    assert api_as("front_desk").get(URL, params(clinic)).status_code == 403
    assert api_as("manager").get(URL, {**params(clinic), "clinic": ClinicFactory().pk}).status_code == 404


def test_a_reversed_range_is_a_400_naming_date_to(api_as, clinic):
    response = api_as("manager").get(URL, params(clinic, date_from="2026-10-31", date_to="2026-10-01"))
    assert response.status_code == 400
    assert "date_to" in response.json()
