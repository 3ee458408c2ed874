"""Integers are bounded and read from ASCII digits only (issue #10): one parser (scheduler.bounds.parse_int)
behind serializers, filters and page forms. Reports with far dates and plans with 2^31 / 2^63 answered 500."""

from __future__ import annotations

import pytest

from scheduler import bounds
from scheduler.models import DosingWindow, Plan
from tests.factories import PatientFactory, PlanFactory
from visits.generation import visits_generate
from visits.models import Visit

REPORT = "/api/v1/reports/attendance/"


@pytest.fixture
def patient(clinic):
    return PatientFactory(clinic=clinic)


@pytest.mark.parametrize(
    "params, field",
    [({"date_from": "9999-12-31"}, "date_from"), ({"date_to": "0001-01-01"}, "date_to")],
)
def test_a_report_far_from_today_is_refused_naming_the_date_before_any_report_is_built(
    api_as, clinic, params, field, monkeypatch
):
    built: list[dict] = []
    monkeypatch.setattr("api.visits.reports.attendance_report", lambda **kwargs: built.append(kwargs))

    response = api_as("manager").get(REPORT, {"clinic": clinic.pk, **params})

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert "2021-01-01 to 2029-12-31" in response.json()[field][0]
    assert built == []


@pytest.mark.parametrize(
    "field, value, bound",
    [
        ("interval_days", 2**31, 366),
        ("min_interval_minutes", 2**63, 1440),
        ("doses_per_day", 4, 3),
        ("attendance_every_weeks", 53, 52),
    ],
)
def test_plan_integers_beyond_their_bound_are_refused_naming_the_field(api_as, patient, field, value, bound):
    body = {"patient": patient.pk, "medication": "diamorphine", "start_date": "2026-11-17", field: value}

    response = api_as("clinician").post("/api/v1/plans/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert f"to {bound}" in response.json()[field][0]
    assert not Plan.objects.exists()


@pytest.mark.parametrize("value", ["٣", "²", "3.5", "1e3", " ", True, "99999999999999999999999"])
def test_integers_in_json_are_ascii_digits_or_numbers(api_as, patient, value):
    body = {"patient": patient.pk, "medication": "diamorphine", "start_date": "2026-11-17", "doses_per_day": value}

    response = api_as("clinician").post("/api/v1/plans/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["doses_per_day"]


def test_an_integer_given_as_ascii_digits_is_read(api_as, patient):
    body = {"patient": patient.pk, "medication": "methadone", "start_date": "2026-11-17", "attendance_every_weeks": "2"}

    response = api_as("clinician").post("/api/v1/plans/", body, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["attendance_every_weeks"] == 2


@pytest.mark.parametrize("field", ["capacity", "stations", "minutes_per_visit"])
def test_window_sizes_are_bounded(api_as, clinic, field):
    body = {
        "weekdays": [6],
        "start": "18:00",
        "end": "19:00",
        "services": ["counselling"],
        "capacity": 5,
        field: 10**12,
    }

    response = api_as("admin").post(f"/api/v1/clinics/{clinic.pk}/windows/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert DosingWindow.objects.filter(clinic=clinic, start="18:00").count() == 0


@pytest.mark.parametrize("value", ["²", "٣", 10**23, -1])
def test_take_home_doses_in_the_api_are_bounded(api_as, patient, value):
    plan = PlanFactory(patient=patient, start_date=bounds.today_utc())
    visits_generate(plans=[plan], today=bounds.today_utc(), horizon_days=2)
    visit = Visit.objects.filter(plan=plan).order_by("date").first()

    response = api_as("nurse").post(f"/api/v1/visits/{visit.pk}/complete/", {"take_home_doses": value}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["take_home_doses"]
    visit.refresh_from_db()
    assert visit.status == "scheduled"


@pytest.mark.parametrize("value", ["٣", "²", "99999999999999999999999"])
def test_a_related_id_that_is_not_ascii_digits_is_refused(api_as, clinic, value):
    body = {"clinic": value, "mrn": "X-1", "first_name": "Ana", "last_name": "Lee"}

    response = api_as("front_desk").post("/api/v1/patients/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["clinic"]


def test_a_huge_page_size_is_capped_not_an_error(api_as, clinic):
    response = api_as("nurse").get("/api/v1/visits/", {"page_size": "99999999999999999999999"})

    assert response.status_code == 200


def test_a_huge_id_filter_answers_404(api_as, clinic):
    response = api_as("nurse").get("/api/v1/visits/", {"clinic": str(bounds.ID_MAX)})

    assert response.status_code == 404


def test_an_id_filter_beyond_a_bigint_is_refused(api_as, clinic):
    response = api_as("nurse").get("/api/v1/visits/", {"clinic": str(2**63)})

    assert response.status_code == 400
    assert list(response.json()) == ["clinic"]


@pytest.mark.parametrize(
    "value, expected",
    [("7", 7), (" 12 ", 12), (5, 5), (5.0, 5)],
)
def test_parse_int_reads_ascii_digits_and_whole_numbers(value, expected):
    assert bounds.parse_int(value, lo=0, hi=20) == expected


@pytest.mark.parametrize("value", ["٣", "²", "+5", "5.5", 5.5, "", "0x10", True, float("inf"), float("nan"), "21"])
def test_parse_int_refuses_everything_else(value):
    with pytest.raises(bounds.BoundError):
        bounds.parse_int(value, lo=0, hi=20)


@pytest.mark.parametrize("url", ["/api/v1/escalations/", "/api/v1/tasks/"])
@pytest.mark.parametrize("value", ["maybe", "1", "True", ""])
def test_the_open_filter_is_true_or_false_and_nothing_else(api_as, clinic, url, value):
    response = api_as("nurse").get(url, {"open": value})

    assert response.status_code == (200 if value == "" else 400)


@pytest.mark.parametrize("start", ["7:00", "07:0", " 07:00", "24:00", "07:60", "0700"])
def test_window_times_are_hh_mm_exactly_as_the_schema_says(api_as, clinic, start):
    body = {"weekdays": [6], "start": start, "end": "23:00", "services": ["counselling"], "capacity": 5}

    response = api_as("admin").post(f"/api/v1/clinics/{clinic.pk}/windows/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["start"]
