"""Issue #15: an alternate-day buprenorphine plan through the API (interval_days 2; add-only)."""

from __future__ import annotations

import pytest

from tests.factories import PatientFactory

URL = "/api/v1/plans/"
pytestmark = pytest.mark.django_db


def _plan(patient, **extra):
    return {"patient": patient.pk, "medication": "buprenorphine", "start_date": "2026-11-02", **extra}


def test_a_clinician_plans_alternate_day_buprenorphine_and_its_calendar_covers_the_day_between(api_as, clinic):
    api = api_as("clinician")
    response = api.post(URL, _plan(PatientFactory(clinic=clinic), interval_days=2), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["interval_days"] == 2
    calendar = api.get(
        f"{URL}{response.json()['id']}/calendar/", {"date_from": "2026-11-02", "date_to": "2026-11-05"}
    )
    assert calendar.status_code == 200, calendar.json()
    days = calendar.json() if isinstance(calendar.json(), list) else calendar.json()["days"]
    assert [d["expected"] for d in days] == ["visit", "none", "visit", "none"]
    assert "double dose" in days[1]["reason"]


@pytest.mark.parametrize(
    ("medication", "interval"), [("buprenorphine", 3), ("methadone", 2), ("diamorphine", 2)]
)
def test_other_oral_intervals_answer_400_naming_interval_days(api_as, clinic, medication, interval):
    patient = PatientFactory(clinic=clinic)
    response = api_as("clinician").post(
        URL, _plan(patient, medication=medication, interval_days=interval), format="json"
    )
    assert response.status_code == 400
    assert "interval_days" in response.json()
