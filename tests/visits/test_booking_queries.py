"""Booking's queries (issue #16): the ledger's booking takes no savepoint of its own inside the shell's
transaction, the count does not grow with the visits already booked, and a refusal still leaves nothing behind."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from notifications import replanning
from scheduler.errors import StateConflict
from tests.factories import PatientFactory
from tests.visits.conftest import MONDAY, make_visit
from visits import services
from visits.models import Visit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]
URL = "/api/v1/visits/"
# The staff profile, the clinic scope and the patient; the shell's savepoint; the ledger's closure, windows, patient
# lock, window lock, bookings, overlaps, insert and audit entry. No reminders' sync: a visit without a plan has no
# medication, so no policy plans it a text, and a new visit has no messages (15 before, reading the visit and its
# messages; 20 before that, and 22 with the ledger's own savepoint and its release).
BOOKING_QUERIES = 13


def book(api, patient):
    return api.post(URL, {"patient": patient.pk, "kind": "counselling", "date": "2026-11-02"}, format="json")


@pytest.mark.parametrize("booked", [0, 5])
def test_a_booking_takes_one_savepoint_and_a_fixed_number_of_queries(api_as, clinic, counselling_window, booked):
    for _ in range(booked):
        make_visit(PatientFactory(clinic=clinic), window=counselling_window, kind="counselling")
    api, patient = api_as("front_desk"), PatientFactory(clinic=clinic)
    with CaptureQueriesContext(connection) as queries:
        response = book(api, patient)
    assert response.status_code == 201, response.content
    sqls = [q["sql"] for q in queries.captured_queries]
    # The shell's block (a savepoint here, inside the test's transaction); none for the ledger's booking or the
    # reminders' sync (there were three).
    assert sum(sql.startswith("SAVEPOINT") for sql in sqls) == 1
    assert not any("notifications_" in sql for sql in sqls)
    assert len(sqls) <= BOOKING_QUERIES, "\n".join(sqls)


def test_a_full_window_is_refused_and_books_nothing(api_as, clinic, counselling_window):
    counselling_window.capacity = 1
    counselling_window.save(update_fields=["capacity"])
    make_visit(PatientFactory(clinic=clinic), window=counselling_window, kind="counselling")
    patient = PatientFactory(clinic=clinic)
    response = book(api_as("front_desk"), patient)
    assert response.status_code == 409
    assert not Visit.objects.filter(patient=patient).exists()


def test_a_caller_that_goes_on_after_a_refusal_wraps_the_booking_in_its_own_atomic_block(
    clinic, counselling_window, staff
):
    counselling_window.capacity = 0
    counselling_window.save(update_fields=["capacity"])
    patient = PatientFactory(clinic=clinic)
    with transaction.atomic():
        with pytest.raises(StateConflict), transaction.atomic():
            services.visit_book(patient=patient, kind="counselling", date=MONDAY, by=staff["front_desk"])
        # The transaction is still usable: the caller's own block rolled back to its savepoint.
        assert not Visit.objects.filter(patient=patient).exists()


def test_the_reminders_sync_runs_for_a_booking_with_a_plan_only(api_as, clinic, plan, oral_window, monkeypatch):
    synced = []
    monkeypatch.setattr(replanning, "reminders_sync", lambda *, visit_ids: synced.append(list(visit_ids)) or 0)
    api = api_as("front_desk")
    assert book(api, PatientFactory(clinic=clinic)).status_code == 201
    assert synced == []
    response = api.post(URL, {"patient": plan.patient_id, "kind": "dose", "date": "2026-11-03"}, format="json")
    assert response.status_code == 201, response.content
    assert synced == [[response.json()["id"]]]
