"""GET /api/v1/reports/retention/: episodes and Kaplan–Meier retention from the ledger; CSV; roles; isolation."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest

from tests.factories import ClinicFactory, PatientFactory, PlanFactory
from visits.models import Visit

pytestmark = [pytest.mark.usefixtures("frozen"), pytest.mark.django_db]

URL = "/api/v1/reports/retention/"
TODAY = date(2026, 11, 2)  # the frozen clinic-local day


def doses(plan, first: date, days: int, kind: str = "dose"):
    Visit.objects.bulk_create(
        Visit(
            patient=plan.patient,
            clinic=plan.patient.clinic,
            plan=plan,
            kind=kind,
            source="manual",
            date=first + timedelta(days=i),
            status="completed",
        )
        for i in range(days)
    )


@pytest.fixture
def ledger(clinic):
    # Three methadone patients starting 1 June 2026: one leaves after 40 days, one stays, one stays 200 days
    # away-and-back: the second stint starts a new episode (90+ days without medication).
    start = date(2026, 6, 1)
    leaver, stayer, returner = (PatientFactory(clinic=clinic, mrn=m) for m in ("L1", "S1", "R1"))
    doses(PlanFactory(patient=leaver, medication="methadone", start_date=start), start, 41)
    doses(PlanFactory(patient=stayer, medication="methadone", start_date=start), start, (TODAY - start).days + 1)
    returner_plan = PlanFactory(patient=returner, medication="buprenorphine", start_date=date(2026, 1, 5))
    doses(returner_plan, date(2026, 1, 5), 20)
    doses(returner_plan, date(2026, 7, 1), 10)
    # cancelled and missed visits are not doses
    Visit.objects.create(
        patient=leaver,
        clinic=clinic,
        plan=leaver.plans.first(),
        kind="dose",
        source="manual",
        date=date(2026, 8, 1),
        status="missed",
    )
    return leaver, stayer, returner


def test_it_lists_episodes_split_at_the_readmission_gap_and_marks_leaving(api_as, clinic, ledger):
    body = api_as("manager").get(URL, {"clinic": clinic.pk}).json()
    leaver, stayer, returner = ledger
    rows = {(e["patient"], e["start"]): e for e in body["episodes"]}
    assert rows[(leaver.pk, "2026-06-01")]["left_on"] == "2026-07-11"
    assert rows[(leaver.pk, "2026-06-01")]["duration_days"] == 40
    assert rows[(stayer.pk, "2026-06-01")]["left"] is False
    assert rows[(stayer.pk, "2026-06-01")]["duration_days"] == (TODAY - date(2026, 6, 1)).days
    assert {start for (p, start) in rows if p == returner.pk} == {"2026-01-05", "2026-07-01"}
    assert body["readmission_gap_days"] == 90 and body["leave_days"] == 30


def test_it_gives_90_and_180_day_retention_by_program_with_intervals(api_as, clinic, ledger):
    body = api_as("clinician").get(URL, {"clinic": clinic.pk, "medication": "methadone"}).json()
    (program,) = body["by_program"]
    assert (program["medication"], program["episodes"], program["left"]) == ("methadone", 2, 1)
    r90 = program["retention_90"]
    assert r90["survival"] == pytest.approx(0.5)
    assert r90["at_risk"] == 1
    assert r90["lower"] < 0.5 < r90["upper"]
    # the stayer has been followed 154 days: 180-day retention is not estimable yet
    assert program["retention_180"]["survival"] is None
    assert [c["cohort"] for c in body["by_cohort"]] == ["2026-Q2"]
    assert "log-log" in body["interval"]


def test_the_csv_is_the_episode_list(api_as, clinic, ledger):
    response = api_as("admin").get(URL, {"clinic": clinic.pk, "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 4
    assert {r["cohort"] for r in rows} == {"2026-Q1", "2026-Q2", "2026-Q3"}


def test_front_desk_may_not_read_it_and_another_clinic_is_404(api_as, clinic, ledger):
    assert api_as("front_desk").get(URL, {"clinic": clinic.pk}).status_code == 403
    other = ClinicFactory()
    assert api_as("manager").get(URL, {"clinic": other.pk}).status_code == 404


@pytest.mark.parametrize("params", [{}, {"clinic": "x"}, {"clinic": 1, "medication": "tea"}])
def test_bad_input_is_a_400_naming_the_field(api_as, clinic, params):
    response = api_as("manager").get(URL, params)
    assert response.status_code == 400
    assert set(response.json()) & {"clinic", "medication"}
