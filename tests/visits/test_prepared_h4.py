"""Issue #16: availability's statement and the availability view's clinic are compiled once a thread
(scheduler.prepared) and sent with each request's clinic and date: the same SQL as the ORM's for those values, the
same instances, for several clinics and dates in turn; another clinic's id is still a 404."""

from __future__ import annotations

from datetime import date, time

import pytest
from django.db import connection
from django.db.models import F, QuerySet
from django.db.models.expressions import RawSQL
from django.test.utils import CaptureQueriesContext

from scheduler.models import Clinic, DosingWindow
from scheduler.prepared import AS_CLINIC, AS_DAY, PreparedQuery, prepared
from tests.factories import ClinicFactory, ClosureFactory, PatientFactory, WindowFactory
from tests.visits.conftest import make_visit
from visits import selectors

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

MONDAY, TUESDAY = date(2026, 11, 2), date(2026, 11, 3)
WINDOW_FIELDS = [f.attname for f in DosingWindow._meta.concrete_fields]


def orm_query(clinic_id: int, day: date) -> QuerySet[DosingWindow]:
    """_availability_query with the request's own values in place of the stand-ins: the ORM's own answer."""
    query = selectors._availability_query()
    sql = str(query.query)
    assert str(AS_CLINIC) in sql and str(AS_DAY) in sql  # both stand-ins are there to be replaced
    held = selectors.Visit.objects.filter(window_id=selectors.OuterRef("pk"), date=day)
    held = held.exclude(status__in=selectors.FREES_ITS_PLACE).order_by().values("window_id")
    shut = selectors.Closure.objects.filter(clinic_id=clinic_id, date=day).order_by().values("clinic_id")
    return (
        DosingWindow.objects.filter(clinic_id=clinic_id)
        .order_by("start", "end", "id")
        .annotate(
            held_on_date=selectors.Subquery(held.annotate(n=selectors.Count("id")).values("n")),
            closures_services=selectors.Subquery(
                shut.annotate(services_each=selectors.JSONBAgg("services", order_by="id")).values("services_each")
            ),
        )
    )


def as_tuples(windows: list[DosingWindow]) -> list[tuple]:
    return [
        (*(getattr(w, name) for name in WINDOW_FIELDS), w.held_on_date, w.closures_services, w._state.adding)
        for w in windows
    ]


@pytest.fixture
def two_clinics(clinic):
    other = ClinicFactory(timezone="Europe/London")
    for start, services in ((time(7, 0), ["methadone"]), (time(9, 0), ["methadone", "counselling"])):
        WindowFactory(clinic=other, start=start, end=time(start.hour + 1), services=services, capacity=3)
    ClosureFactory(clinic=other, date=TUESDAY, services=["counselling"])
    ClosureFactory(clinic=other, date=TUESDAY, services=[])
    window = clinic.windows.order_by("id").first()
    for status in ("scheduled", "cancelled", "missed", "completed"):
        make_visit(PatientFactory(clinic=clinic), window=window, status=status)
    return clinic, other


def test_the_statement_compiled_once_answers_as_the_orm_for_each_clinic_and_date(two_clinics):
    compiled = prepared("visits.availability", selectors._availability_query)
    for clinic in two_clinics * 2:
        for day in (MONDAY, TUESDAY, date(2027, 3, 14)):
            orm = orm_query(clinic.pk, day)
            sql, params = orm.query.get_compiler(using="default").as_sql()
            assert compiled.sql == sql
            assert [compiled.params[i] for i in range(len(params)) if i not in compiled.where] == [
                p for i, p in enumerate(params) if i not in compiled.where
            ]
            got = compiled.run({AS_CLINIC: clinic.pk, AS_DAY: day})
            assert as_tuples(got) == as_tuples(list(orm))
            assert got, "every clinic here has windows"
    assert prepared("visits.availability", selectors._availability_query) is compiled  # kept for the thread


def test_the_counts_and_closures_are_the_days_own(two_clinics):
    clinic, other = two_clinics
    monday = {w.pk: w.held_on_date for w in orm_query(clinic.pk, MONDAY)}
    assert sorted(v for v in monday.values() if v) == [3]  # scheduled, missed, completed hold their places
    assert all(
        w.closures_services == [["counselling"], []]
        for w in prepared("visits.availability", selectors._availability_query).run(
            {AS_CLINIC: other.pk, AS_DAY: TUESDAY}
        )
    )
    assert selectors.availability(clinic=other, date=TUESDAY, service="methadone") == []
    assert selectors.availability(clinic=other, date=MONDAY, service="methadone")


def test_a_stand_in_written_into_the_sql_is_refused():
    with pytest.raises(ValueError, match="stand-in"):
        PreparedQuery(Clinic.objects.annotate(x=RawSQL(f"{AS_CLINIC}", ())).filter(pk=AS_CLINIC))
    with pytest.raises(ValueError, match="model instances"):
        PreparedQuery(Clinic.objects.filter(pk=AS_CLINIC).values_list("pk"))
    assert PreparedQuery(Clinic.objects.annotate(zone=F("timezone")).filter(pk=AS_CLINIC)).where == [0]


def test_a_values_query_answers_dicts_for_each_clinic(clinic, other_clinic):
    names = PreparedQuery(Clinic.objects.filter(pk=AS_CLINIC).values("name", "timezone"))
    for each in (clinic, other_clinic, clinic):
        assert names.run({AS_CLINIC: each.pk}) == [{"name": each.name, "timezone": each.timezone}]


def test_the_view_reads_each_clinic_by_its_id_and_answers_404_for_another_clinic(api_as, two_clinics):
    clinic, other = two_clinics
    api = api_as("front_desk")
    url = "/api/v1/clinics/{}/availability/?date=2026-11-02&service=methadone"
    assert api.get(url.format(clinic.pk)).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        response = api.get(url.format(other.pk))
    assert response.status_code == 404 and response.json() == {"detail": "No such clinic in your clinics."}
    assert not any('"scheduler_clinic"."timezone"' in q["sql"] for q in queries.captured_queries)  # no clinic read
    assert api.get(url.format(10**30)).status_code == 404


def test_a_superuser_sees_every_clinic_and_a_missing_one_is_404(admin_client, two_clinics):
    clinic, other = two_clinics
    url = "/api/v1/clinics/{}/availability/?date=2026-11-02&service=methadone"
    first, second = admin_client.get(url.format(clinic.pk)), admin_client.get(url.format(other.pk))
    assert (first.status_code, second.status_code) == (200, 200)
    assert [row["window_id"] for row in second.json()] == list(
        DosingWindow.objects.filter(clinic=other).order_by("start", "end", "id").values_list("id", flat=True)
    )
    assert admin_client.get(url.format(other.pk + 1000)).status_code == 404
