"""Error answers are JSON whatever the client asked for, and page sizes that are no whole number answer 400."""

from __future__ import annotations


def test_a_report_error_is_json_even_when_csv_was_asked_for(api_as, clinic):
    response = api_as("manager").get(
        "/api/v1/reports/attendance/", {"clinic": clinic.pk, "date_from": "2026-11-09", "date_to": "2026-11-02",
                                        "format": "csv"}
    )

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert isinstance(response.json(), dict)


def test_a_page_size_that_is_no_whole_number_answers_400(api_as, clinic):
    for bad in ("null", "-1", "0", "2.5", "²"):
        response = api_as("nurse").get("/api/v1/clinics/", {"page_size": bad})

        assert response.status_code == 400, bad
        assert "page_size" in response.json(), bad


def test_a_page_size_above_500_is_capped(api_as, clinic):
    response = api_as("nurse").get("/api/v1/clinics/", {"page_size": "501"})

    assert response.status_code == 200
