"""The attendance report's one aggregate of grouping sets (issue #16) gives exactly what one ORM aggregate per figure
gives — totals, by patient in name order, by day in date order — for any mix of statuses, patients, days, clinics and
the medication filter (visits without a plan included)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.models import Patient
from tests.factories import ClinicFactory, PatientFactory, PlanFactory
from visits.models import Visit
from visits.reports import _ATTENDANCE, _with_rate, attendance_report

DAY = date(2026, 11, 2)
STATUSES = ["scheduled", "checked_in", "completed", "missed", "excused", "cancelled"]
NAMES = ["Alvarez", "Brooks", "Alvarez", "Chen"]  # two patients share a last name: the order falls to first name, id


def _expected(clinic_ids: list[int], date_from: date, date_to: date, medication: str) -> dict:
    """The figures as the report computed them before: one ORM aggregate each."""
    qs = Visit.objects.filter(clinic_id__in=clinic_ids, date__range=(date_from, date_to)).order_by()
    if medication:
        qs = qs.filter(plan__medication=medication)
    counts = {r["patient_id"]: r for r in qs.values("patient_id").annotate(**_ATTENDANCE)}
    patients = Patient.objects.filter(pk__in=list(counts)).order_by("last_name", "first_name", "id")
    return {
        **_with_rate(qs.aggregate(**_ATTENDANCE)),
        "by_patient": [
            _with_rate({"patient": p.pk, "mrn": p.mrn, "first_name": p.first_name, "last_name": p.last_name,
                        **{k: counts[p.pk][k] for k in _ATTENDANCE}})
            for p in patients
        ],
        "by_day": [_with_rate(dict(r)) for r in qs.values("date").annotate(**_ATTENDANCE).order_by("date")],
    }


def make_ledger() -> tuple[list, list]:
    """Two clinics, four patients (two share a last name), each with a plan of one of two medications."""
    clinics = [ClinicFactory(), ClinicFactory()]
    plans = []
    for n, last_name in enumerate(NAMES):
        patient = PatientFactory(clinic=clinics[n % 2], last_name=last_name, first_name=f"F{3 - n}", mrn=f"M{n}")
        plans.append((patient, PlanFactory(patient=patient, medication=["methadone", "naltrexone_xr"][n % 2])))
    return clinics, plans


@pytest.fixture
def ledger(db):
    return make_ledger()


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 9), st.sampled_from(STATUSES), st.booleans()),
                  max_size=40),
    span=st.tuples(st.integers(0, 9), st.integers(0, 9)),
    medication=st.sampled_from(["", "methadone", "naltrexone_xr", "buprenorphine_xr"]),
    both_clinics=st.booleans(),
)
def test_one_pass_equals_one_aggregate_per_figure(ledger, rows, span, medication, both_clinics):
    clinics, plans = ledger
    Visit.objects.all().delete()
    Visit.objects.bulk_create(
        Visit(patient=plans[p][0], clinic=plans[p][0].clinic, plan=plans[p][1] if with_plan else None,
              kind="dose" if with_plan else "counselling", date=DAY + timedelta(days=d), status=status,
              source="manual")
        for p, d, status, with_plan in rows
    )
    clinic_ids = [c.pk for c in (clinics if both_clinics else clinics[:1])]
    date_from, date_to = DAY + timedelta(days=min(span)), DAY + timedelta(days=max(span))
    got = attendance_report(clinic_ids=clinic_ids, date_from=date_from, date_to=date_to, medication=medication)
    assert got == _expected(clinic_ids, date_from, date_to, medication)


@pytest.mark.django_db
def test_an_empty_range_reports_zeros(ledger):
    clinics, _ = ledger
    got = attendance_report(clinic_ids=[clinics[0].pk], date_from=DAY, date_to=DAY)
    assert got == {**dict.fromkeys(_ATTENDANCE, 0), "attendance_rate": None, "by_patient": [], "by_day": []}


@pytest.mark.django_db
def test_the_report_reads_the_visits_once(ledger, django_assert_num_queries):
    clinics, plans = ledger
    Visit.objects.create(patient=plans[0][0], clinic=clinics[0], plan=plans[0][1], kind="dose", date=DAY,
                         status="completed", source="manual")
    with django_assert_num_queries(2):  # the grouping sets (no closed month), then the patients' names
        got = attendance_report(clinic_ids=[clinics[0].pk], date_from=DAY, date_to=DAY)
    assert got["completed"] == 1 and [r["mrn"] for r in got["by_patient"]] == ["M0"]
