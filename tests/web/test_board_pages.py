"""The today board one page at a time (issue #16): the counts and headings cover the day, per-row work the page."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import PatientFactory, PlanFactory
from tests.web.conftest import TODAY
from visits.generation import visits_generate
from visits.models import Visit
from web.selectors import BOARD_PAGE_SIZE

pytestmark = pytest.mark.django_db


def _day_of(clinic, n: int) -> list[Visit]:
    """n patients (names in board order: Page000, Page001, …) with a dose visit today, all in the same window."""
    plans = [
        PlanFactory(
            patient=PatientFactory(clinic=clinic, last_name=f"Page{i:03d}", mrn=f"PG-{i:03d}"),
            start_date=date(2026, 11, 1),
        )
        for i in range(n)
    ]
    visits_generate(plans=plans, today=TODAY, horizon_days=1)
    return list(Visit.objects.filter(clinic=clinic, date=TODAY).order_by("patient__last_name"))


def _rows(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr id="visit-(\d+)"', html)]


def test_a_day_longer_than_a_page_shows_one_page_and_counts_the_whole_day(client_as, clinic, morning):
    visits = _day_of(clinic, BOARD_PAGE_SIZE + 5)
    client = client_as("nurse")
    first = client.get(f"/clinics/{clinic.pk}/today/").content.decode()
    assert _rows(first) == [v.pk for v in visits[:BOARD_PAGE_SIZE]]  # window, then name
    assert "Page 1 of 2" in first and "Next 5</a>" in first and "Previous" not in first
    assert f'data-count="expected">{BOARD_PAGE_SIZE + 5}<' in first  # the day's, not the page's
    assert f"Window 07:00–10:00 <span class=\"muted\">({BOARD_PAGE_SIZE + 5})</span>" in first
    second = client.get(f"/clinics/{clinic.pk}/today/?page=2").content.decode()
    assert _rows(second) == [v.pk for v in visits[BOARD_PAGE_SIZE:]]
    assert "Page 2 of 2" in second and 'rel="prev">Previous</a>' in second and "Next " not in second
    assert f'data-count="expected">{BOARD_PAGE_SIZE + 5}<' in second


def test_a_day_within_a_page_has_no_page_links(client_as, clinic, today_visit):
    html = client_as("nurse").get(f"/clinics/{clinic.pk}/today/").content.decode()
    assert _rows(html) == [today_visit.pk]
    assert "Page 1 of" not in html and 'rel="next"' not in html


def test_scanning_a_patient_whose_row_is_on_page_two_lands_on_page_two(client_as, clinic, morning):
    visits = _day_of(clinic, BOARD_PAGE_SIZE + 3)
    last = visits[-1]
    client = client_as("front_desk")
    response = client.post(f"/clinics/{clinic.pk}/today/scan/", {"mrn": last.patient.mrn})
    assert response.status_code == 302
    assert response["Location"] == f"/clinics/{clinic.pk}/today/?page=2&scan=1"
    html = client.get(response["Location"]).content.decode()
    assert last.pk in _rows(html)
    assert f'id="visit-{last.pk}" class="row-checked_in"' in html
    # Scanned again: the refusal shows with the row it is about, on its page.
    again = client.post(f"/clinics/{clinic.pk}/today/scan/", {"mrn": last.patient.mrn})
    assert again.status_code == 409
    assert last.pk in _rows(again.content.decode()) and "is already checked in" in again.content.decode()


def test_a_refusal_on_a_row_of_page_two_is_shown_on_page_two(client_as, clinic, morning):
    visits = _day_of(clinic, BOARD_PAGE_SIZE + 2)
    row = visits[-1]
    response = client_as("front_desk").post(f"/visits/{row.pk}/excuse/", {"reason": "  "})
    assert response.status_code == 400
    html = response.content.decode()
    assert row.pk in _rows(html) and f'id="err-{row.pk}"' in html and "Page 2 of 2" in html


def test_an_action_on_a_row_of_page_two_comes_back_to_page_two(client_as, clinic, morning):
    visits = _day_of(clinic, BOARD_PAGE_SIZE + 2)
    response = client_as("front_desk").post(f"/visits/{visits[-1].pk}/check-in/")
    assert response["Location"] == f"/clinics/{clinic.pk}/today/?page=2#visit-{visits[-1].pk}"


def test_the_window_filter_shows_one_windows_rows_and_keeps_the_day_counts(client_as, clinic, morning):
    visits = _day_of(clinic, 3)
    window = visits[0].window
    html = client_as("nurse").get(f"/clinics/{clinic.pk}/today/?window={window.pk}").content.decode()
    assert _rows(html) == [v.pk for v in visits]
    assert 'aria-current="page">Window 07:00–10:00 (3)</a>' in html and "All windows (3)" in html
    assert f'action="/visits/{visits[0].pk}/check-in/?window={window.pk}"' in html


@pytest.mark.parametrize("query", ["page=abc", "page=0", "window=999999"])
def test_a_bad_page_or_window_is_a_400_naming_the_field(client_as, clinic, today_visit, query):
    response = client_as("nurse").get(f"/clinics/{clinic.pk}/today/?{query}")
    assert response.status_code == 400
    field = query.split("=")[0]
    assert f'id="board-query-error">{field}: ' in response.content.decode()
    assert _rows(response.content.decode()) == [today_visit.pk]


def test_a_page_past_the_last_shows_the_last(client_as, clinic, today_visit):
    response = client_as("nurse").get(f"/clinics/{clinic.pk}/today/?page=7")
    assert response.status_code == 200 and _rows(response.content.decode()) == [today_visit.pk]


def test_the_boards_queries_do_not_grow_with_the_days_visits(client_as, clinic, morning):
    client = client_as("nurse")
    counted = []
    for n in (10, 50):  # 10, then 60 rows in all
        _day_of_more(clinic, n, start=sum((10, 50)[: len(counted)]))
        with CaptureQueriesContext(connection) as ctx:
            html = client.get(f"/clinics/{clinic.pk}/today/").content.decode()
        assert len(_rows(html)) == min(n if not counted else 60, BOARD_PAGE_SIZE)
        counted.append(len(ctx.captured_queries))
    assert counted[0] == counted[1] and counted[1] <= 16, counted  # the guard reads the plans on their own


def _day_of_more(clinic, n: int, start: int) -> None:
    plans = [
        PlanFactory(
            patient=PatientFactory(clinic=clinic, last_name=f"More{i:03d}", mrn=f"MO-{i:03d}"),
            start_date=date(2026, 11, 1),
        )
        for i in range(start, start + n)
    ]
    visits_generate(plans=plans, today=TODAY, horizon_days=1)
