"""Pauses and guest dosing from the patient page (issue #13)."""

from __future__ import annotations

from datetime import date

import pytest

from scheduler.models import Pause

pytestmark = pytest.mark.django_db


def _pause(client, plan, **values):
    return client.post(f"/plans/{plan.pk}/pauses/", {"start": "2026-11-20", "end": "2026-11-22", "reason": "hospital",
                                                     "note": "", **values})


def test_the_pause_form_names_the_patient(client_as, plan, morning):
    html = client_as("front_desk").get(f"/patients/{plan.patient_id}/").content.decode()
    assert "Record pause for Jordan Okafor" in html
    assert f'action="/plans/{plan.pk}/pauses/"' in html


@pytest.mark.parametrize("role", ["front_desk", "nurse", "clinician"])
def test_desk_and_clinical_roles_record_a_hospital_pause(client_as, plan, morning, role):
    client = client_as(role)
    response = _pause(client, plan, note="St Mary's")
    pause = Pause.objects.get(plan=plan)
    assert response.status_code == 302
    assert (pause.start, pause.end, pause.reason, pause.note) == (date(2026, 11, 20), date(2026, 11, 22), "hospital",
                                                                  "St Mary's")
    page = client.get(f"/patients/{plan.patient_id}/").content.decode()
    assert "Hospital recorded for Jordan Okafor (MRN MRN-4711): 2026-11-20 to 2026-11-22." in page


def test_a_manager_may_not_record_a_pause(client_as, plan, morning):
    assert _pause(client_as("manager"), plan).status_code == 403
    assert not Pause.objects.exists()


def test_guest_dosing_at_short_notice_is_refused_for_the_front_desk_with_what_was_typed(client_as, plan, morning):
    response = _pause(client_as("front_desk"), plan, start="2026-11-17", end="2026-11-19", reason="guest_dosing",
                      note="Hillside")
    html = response.content.decode()
    assert response.status_code == 400
    assert "a clinician can approve shorter notice" in html.split(f'id="pause-err-{plan.pk}"')[1]
    assert f'id="pause-start-{plan.pk}" name="start" type="date" required value="2026-11-17"' in html
    assert 'value="guest_dosing" selected' in html
    assert 'value="Hillside"' in html
    assert not Pause.objects.exists()


def test_a_clinician_may_set_shorter_notice_for_guest_dosing(client_as, plan, staff, morning):
    response = _pause(client_as("clinician"), plan, start="2026-11-17", end="2026-11-19", reason="guest_dosing")
    pause = Pause.objects.get(plan=plan)
    assert response.status_code == 302
    assert pause.reason == "guest_dosing" and pause.approved_by == staff["clinician"]


def test_a_pause_ending_before_it_starts_is_refused_and_bad_dates_are_a_400(client_as, plan, morning):
    client = client_as("nurse")
    backwards = _pause(client, plan, start="2026-11-22", end="2026-11-20")
    assert backwards.status_code == 400
    assert "before it starts" in backwards.content.decode()
    garbage = _pause(client, plan, start="yesterday", reason="holiday")
    assert garbage.status_code == 400
    assert "First day away" in garbage.content.decode()
    assert not Pause.objects.exists()
