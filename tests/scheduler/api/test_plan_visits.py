"""Creating or changing a plan regenerates its future visits at once; attended visits never change."""

from __future__ import annotations

from datetime import date, timedelta

from tests.factories import PatientFactory
from visits.models import Visit

URL = "/api/v1/plans/"
TODAY = date(2026, 11, 2)


def create_daily_methadone(client, clinic):
    patient = PatientFactory(clinic=clinic)
    body = {"patient": patient.pk, "medication": "methadone", "start_date": TODAY.isoformat()}
    response = client.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def test_creating_a_plan_generates_visits_for_the_next_28_days(api_as, clinic):
    plan_id = create_daily_methadone(api_as("clinician"), clinic)

    dates = set(Visit.objects.filter(plan_id=plan_id).values_list("date", flat=True))

    # The oral window runs Monday to Saturday; Sundays are take-home days.
    horizon = [TODAY + timedelta(days=n) for n in range(28)]
    assert dates == {d for d in horizon if d.weekday() != 6}
    assert all(v.status == "scheduled" and v.source == "plan" for v in Visit.objects.filter(plan_id=plan_id))


def test_changing_a_plan_regenerates_future_visits_and_keeps_completed_ones(api_as, clinic):
    client = api_as("clinician")
    plan_id = create_daily_methadone(client, clinic)
    tuesday = Visit.objects.get(plan_id=plan_id, date=date(2026, 11, 3))
    Visit.objects.filter(pk=tuesday.pk).update(status="completed")

    response = client.patch(f"{URL}{plan_id}/", {"attendance_weekdays": [0, 2, 4]}, format="json")

    assert response.status_code == 200, response.json()
    weekdays = set(
        Visit.objects.filter(plan_id=plan_id, status="scheduled").values_list("date__week_day", flat=True)
    )
    assert weekdays <= {2, 4, 6}  # Django week_day: Sunday = 1, so Monday = 2, Wednesday = 4, Friday = 6
    assert Visit.objects.get(pk=tuesday.pk).status == "completed"
    assert not Visit.objects.filter(plan_id=plan_id, date=date(2026, 11, 10)).exists()


def test_ending_a_plan_removes_its_future_scheduled_visits(api_as, clinic):
    client = api_as("clinician")
    plan_id = create_daily_methadone(client, clinic)

    response = client.patch(f"{URL}{plan_id}/", {"status": "ended", "end_date": "2026-11-05"}, format="json")

    assert response.status_code == 200, response.json()
    assert not Visit.objects.filter(plan_id=plan_id, status="scheduled").exists()
