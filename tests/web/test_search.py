"""Patient search: POST only, prefix matches on name and MRN, exact date of birth, at most 20 rows."""

from __future__ import annotations

import re
from datetime import date

import pytest

from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def search(client, clinic, q: str, fetch: bool = True):
    headers = {"X-Requested-With": "fetch"} if fetch else {}
    return client.post(f"/clinics/{clinic.pk}/patients/search/", {"q": q}, headers=headers)


def test_it_finds_patients_by_last_name_first_name_mrn_and_date_of_birth(client_as, clinic, patient):
    PatientFactory(clinic=clinic, first_name="Robin", last_name="Okoye", mrn="X-1", date_of_birth=date(1990, 1, 1))
    client = client_as("front_desk")
    by_last = search(client, clinic, "oka").content.decode()
    assert "Okafor, Jordan" in by_last and "Okoye" not in by_last
    assert "Okafor, Jordan" in search(client, clinic, "jord").content.decode()
    assert "Okafor, Jordan" in search(client, clinic, "mrn-47").content.decode()
    by_dob = search(client, clinic, "1980-03-09").content.decode()
    assert "Okafor, Jordan" in by_dob and "Okoye" not in by_dob
    both = search(client, clinic, "Jordan Oka").content.decode()
    assert "Okafor, Jordan" in both
    assert "Okafor, Jordan" in search(client, clinic, "Okafor, Jo").content.decode()


def test_it_does_not_match_inside_words_or_other_clinics(client_as, clinic, patient, other_patient):
    client = client_as("front_desk")
    assert "Okafor" not in search(client, clinic, "kafor").content.decode()
    assert "Other" not in search(client, clinic, "Other").content.decode()


def test_it_returns_at_most_twenty_patients(client_as, clinic):
    for i in range(25):
        PatientFactory(clinic=clinic, last_name=f"Smith{i:02d}")
    html = search(client_as("nurse"), clinic, "smith").content.decode()
    assert len(re.findall(r'href="/patients/\d+/"', html)) == 20


def test_names_never_go_into_urls(client_as, clinic, patient):
    client = client_as("front_desk")
    assert client.get(f"/clinics/{clinic.pk}/patients/search/?q=Okafor").status_code == 405
    html = search(client, clinic, "Okafor").content.decode()
    hrefs = re.findall(r'(?:href|action)="([^"]*)"', html)
    assert hrefs, "results link to the patient page"
    for href in hrefs:
        assert "okafor" not in href.lower() and "jordan" not in href.lower() and "1980" not in href
        assert re.fullmatch(r"/patients/\d+/(book/)?", href), href
    page = client.get(f"/clinics/{clinic.pk}/patients/").content.decode()
    assert 'method="post"' in page and 'name="q"' in page


def test_the_fragment_is_served_to_fetch_and_the_full_page_without_javascript(client_as, clinic, patient):
    client = client_as("front_desk")
    fragment = search(client, clinic, "Okafor").content.decode()
    assert "<html" not in fragment
    full = search(client, clinic, "Okafor", fetch=False).content.decode()
    assert "<html" in full and "Okafor, Jordan" in full
