r"""Ids in paths are ASCII digits (issue #10): `\d` also matched other scripts' digits, which int() and the ORM read
as numbers, so /api/v1/visits/٣/ answered visit 3. Every id in an API path is `[0-9]+`; anything else is a JSON 404."""

from __future__ import annotations

import pytest

from notifications.models import Message
from tests.api.conftest import NOW
from visits.models import StaffTask, Visit

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
PATHS = [
    "/api/v1/clinics/{clinic}/",
    "/api/v1/clinics/{clinic}/windows/",
    "/api/v1/clinics/{clinic}/closures/",
    "/api/v1/clinics/{clinic}/availability/?date=2026-11-02&service=methadone",
    "/api/v1/patients/{patient}/",
    "/api/v1/plans/{plan}/",
    "/api/v1/plans/{plan}/pauses/",
    "/api/v1/plans/{plan}/history/",
    "/api/v1/plans/{plan}/calendar/?date_from=2026-11-02&date_to=2026-11-08",
    "/api/v1/visits/{visit}/",
    "/api/v1/messages/{message}/",
    "/api/v1/tasks/{task}/",
]


@pytest.fixture
def path_ids(ids, clinic) -> dict[str, int]:
    visit = Visit.objects.get(pk=ids["visits"])
    message = Message.objects.create(patient=visit.patient, visit=visit, purpose="reminder", scheduled_for=NOW)
    task = StaffTask.objects.create(clinic=clinic, patient=visit.patient, kind="inbox", detail="hello")
    return {"clinic": ids["clinics"], "patient": ids["patients"], "plan": ids["plans"], "visit": ids["visits"],
            "message": message.pk, "task": task.pk}


@pytest.mark.parametrize("path", PATHS)
def test_an_id_in_another_scripts_digits_is_a_json_404_where_the_ascii_id_answers(api_as, path_ids, path):
    api = api_as("admin")
    ascii_path = path.format(**path_ids)
    other_digits = path.format(**{name: str(pk).translate(ARABIC_INDIC) for name, pk in path_ids.items()})

    assert api.get(ascii_path).status_code == 200
    response = api.get(other_digits)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("action", ["check-in", "complete", "cancel", "excuse", "reschedule"])
def test_a_visit_action_with_another_scripts_digits_is_a_json_404_and_changes_nothing(api_as, path_ids, action):
    visit_id = str(path_ids["visit"]).translate(ARABIC_INDIC)

    response = api_as("admin").post(f"/api/v1/visits/{visit_id}/{action}/", {"reason": "x"}, format="json")

    assert response.status_code == 404
    assert Visit.objects.get(pk=path_ids["visit"]).status == "scheduled"

