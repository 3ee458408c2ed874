"""The patient page's doses section reads each plan's newest doses given and COWS scores in SQL of its own (issue
#16): per plan the newest ten doses and sixty scores, newest first, with who gave or scored them; a plan with a long
history never crowds out another; ended plans are left out."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest

from tests.factories import PatientFactory, PlanFactory
from visits.models import Assessment, Visit
from web.selectors import DOSES_GIVEN_SHOWN, patient_doses

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("morning")]
FIRST = date(2026, 10, 20)


def given(plan, on: date, mg: str, by=None, kind: str = "dose") -> Visit:
    return Visit.objects.create(
        patient=plan.patient, clinic=plan.patient.clinic, plan=plan, kind=kind, date=on, status="completed",
        source="manual", dose_mg=Decimal(mg), completed_by=by,
    )


@pytest.fixture
def two_plans(clinic, staff):
    patient = PatientFactory(clinic=clinic)
    methadone = PlanFactory(patient=patient, start_date=FIRST)
    naltrexone = PlanFactory(patient=patient, medication="naltrexone_xr", interval_days=28, start_date=FIRST)
    for i in range(12):  # twelve doses: the oldest two fall off the section
        given(methadone, FIRST + timedelta(days=i), str(30 + i), by=staff["nurse"] if i % 2 else None)
    shot = given(naltrexone, FIRST + timedelta(days=1), "380", by=staff["clinician"], kind="injection")
    Assessment.objects.create(visit=shot, patient=patient, items={}, total=7, created_by=staff["clinician"])
    Visit.objects.create(  # not a dose given: a missed visit and a completed counselling visit are left out
        patient=patient, clinic=clinic, plan=methadone, kind="dose", date=FIRST + timedelta(days=20), status="missed",
        source="manual",
    )
    return patient, methadone, naltrexone


def test_each_plan_gets_its_newest_doses_newest_first_with_who_gave_them(two_plans, staff):
    patient, methadone, naltrexone = two_plans
    plans = [methadone, naltrexone]
    sections = {d.plan.pk: d for d in patient_doses(patient=patient, plans=plans, today=date(2026, 11, 16))}
    oral = sections[methadone.pk].given
    assert len(oral) == DOSES_GIVEN_SHOWN
    assert [v.date for v in oral] == [FIRST + timedelta(days=i) for i in range(11, 1, -1)]
    assert oral[0].dose_mg == Decimal("41.00") and oral[0].completed_by_username == "nurse_user"
    assert oral[1].completed_by_username is None  # nobody recorded
    shots = sections[naltrexone.pk].given
    assert [(v.kind, v.completed_by_username) for v in shots] == [("injection", "clinician_user")]
    scores = sections[naltrexone.pk].cows
    assert [(a.total, a.created_by_username) for a in scores] == [(7, "clinician_user")]
    assert sections[methadone.pk].cows == []


def test_an_ended_plan_has_no_section(two_plans):
    patient, methadone, naltrexone = two_plans
    naltrexone.status = "ended"
    assert [d.plan for d in patient_doses(patient=patient, plans=[methadone, naltrexone], today=date(2026, 11, 16))] \
        == [methadone]


def test_the_page_names_who_gave_each_dose_and_who_scored(two_plans, client_as):
    patient, methadone, naltrexone = two_plans
    html = client_as("manager").get(f"/patients/{patient.pk}/").content.decode()
    section = rf'<div class="card plan-doses" id="doses-{methadone.pk}">.*?<table class="doses-given">.*?</table>'
    oral = re.search(section, html, re.S)
    assert oral is not None
    rows = re.findall(r"<tr>\s*<td>(\w{3} [\d-]+)</td><td>([\d.]+ mg).*?<td>[^<]*</td><td>([^<]*)</td>\s*</tr>",
                      oral.group(0), re.S)
    assert rows[0] == ("Sat 2026-10-31", "41 mg", "nurse_user") and rows[1][2] == "—" and len(rows) == 10
    shot = re.search(rf'<div class="card plan-doses" id="doses-{naltrexone.pk}">.*?</details>', html, re.S)
    assert shot is not None and "<td>clinician_user</td>" in shot.group(0)
    assert "<td>7</td><td>mild withdrawal</td><td>clinician_user</td>" in shot.group(0)
