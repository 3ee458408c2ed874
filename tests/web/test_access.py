"""Who sees which page: login, the role table, clinic isolation, CSRF."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import WindowFactory

pytestmark = pytest.mark.django_db


def pages(clinic_id: int, patient_id: int) -> list[str]:
    return [
        f"/clinics/{clinic_id}/today/",
        f"/clinics/{clinic_id}/today/counts/",
        f"/clinics/{clinic_id}/patients/",
        f"/patients/{patient_id}/",
        f"/patients/{patient_id}/book/",
        f"/clinics/{clinic_id}/escalations/",
        f"/clinics/{clinic_id}/dashboard/",
        f"/clinics/{clinic_id}/dashboard/attendance.csv",
        f"/clinics/{clinic_id}/setup/",
        f"/clinics/{clinic_id}/availability.json?date=2026-11-17&service=methadone",
    ]


def test_anonymous_users_are_sent_to_the_login_page(clinic, patient):
    client = Client()
    for url in ["/", *pages(clinic.pk, patient.pk)]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next="), url


def test_the_login_page_signs_a_user_in_and_home_goes_to_the_first_clinic_board(clinic, staff):
    client = Client()
    page = client.get("/login/")
    assert page.status_code == 200
    assert b'<label for="id_username">' in page.content
    response = client.post("/login/", {"username": "nurse_user", "password": "correct-horse-battery"})
    assert response.status_code == 302
    home = client.get("/")
    assert home.status_code == 302
    assert home["Location"] == f"/clinics/{clinic.pk}/today/"


def test_logout_needs_a_post(client_as):
    client = client_as("nurse")
    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302
    assert client.get("/")["Location"].startswith("/login/")


@pytest.mark.parametrize(
    "role, allowed",
    [
        ("front_desk", {"today", "patients", "patient", "book", "escalations"}),
        ("nurse", {"today", "patients", "patient", "book", "escalations"}),
        ("clinician", {"today", "patients", "patient", "book", "escalations", "dashboard", "setup"}),
        ("manager", {"today", "patients", "patient", "escalations", "dashboard"}),
        ("admin", {"today", "patients", "patient", "book", "escalations", "dashboard", "setup"}),
    ],
)
def test_each_role_opens_only_the_pages_the_role_table_allows(client_as, clinic, patient, role, allowed):
    client = client_as(role)
    urls = {
        "today": f"/clinics/{clinic.pk}/today/",
        "patients": f"/clinics/{clinic.pk}/patients/",
        "patient": f"/patients/{patient.pk}/",
        "book": f"/patients/{patient.pk}/book/",
        "escalations": f"/clinics/{clinic.pk}/escalations/",
        "dashboard": f"/clinics/{clinic.pk}/dashboard/",
        "setup": f"/clinics/{clinic.pk}/setup/",
    }
    for name, url in urls.items():
        expected = 200 if name in allowed else 403
        assert client.get(url).status_code == expected, (role, name)


def test_front_desk_never_sees_the_dashboard_or_setup_links(client_as, clinic):
    html = client_as("front_desk").get(f"/clinics/{clinic.pk}/today/").content.decode()
    assert f"/clinics/{clinic.pk}/dashboard/" not in html
    assert f"/clinics/{clinic.pk}/setup/" not in html
    assert client_as("front_desk").get(f"/clinics/{clinic.pk}/dashboard/attendance.csv").status_code == 403


def test_manager_sees_the_dashboard_link_and_admin_the_setup_link(client_as, clinic):
    manager = client_as("manager").get(f"/clinics/{clinic.pk}/today/").content.decode()
    assert f"/clinics/{clinic.pk}/dashboard/" in manager
    assert f"/clinics/{clinic.pk}/setup/" not in manager
    admin = client_as("admin").get(f"/clinics/{clinic.pk}/today/").content.decode()
    assert f"/clinics/{clinic.pk}/setup/" in admin


def test_another_clinics_ids_answer_404(client_as, other_clinic, other_patient):
    client = client_as("admin")
    for url in pages(other_clinic.pk, other_patient.pk):
        assert client.get(url).status_code == 404, url
    window = WindowFactory(clinic=other_clinic)
    posts = [
        f"/patients/{other_patient.pk}/book/submit/",
        f"/clinics/{other_clinic.pk}/patients/search/",
        f"/clinics/{other_clinic.pk}/setup/windows/{window.pk}/delete/",
        f"/clinics/{other_clinic.pk}/setup/closures/",
    ]
    for url in posts:
        assert client.post(url, {"q": "Other"}).status_code == 404, url
    assert other_clinic.windows.filter(pk=window.pk).exists()


def test_another_clinics_visit_cannot_be_checked_in(client_as, other_patient):
    from datetime import date

    from visits.models import Visit

    visit = Visit.objects.create(
        patient=other_patient, clinic=other_patient.clinic, kind="counselling", date=date(2026, 11, 16)
    )
    client = client_as("admin")
    assert client.post(f"/visits/{visit.pk}/check-in/").status_code == 404
    assert client.post(f"/visits/{visit.pk}/complete/").status_code == 404
    visit.refresh_from_db()
    assert visit.status == "scheduled"


def test_posts_without_a_csrf_token_are_refused(staff, today_visit):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff["nurse"])
    response = client.post(f"/visits/{today_visit.pk}/check-in/")
    assert response.status_code == 403
    today_visit.refresh_from_db()
    assert today_visit.status == "scheduled"


def test_a_user_without_a_staff_role_gets_403(db, clinic):
    from tests.factories import UserFactory

    user = UserFactory()
    user.save()
    client = Client()
    client.force_login(user)
    assert client.get(f"/clinics/{clinic.pk}/today/").status_code == 403
