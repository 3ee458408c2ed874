"""The board reads only the columns it prints (issue #16: a page's rows were whole visits, patients and plans, a
dozen timestamps decoded a row to print a few values). A column it prints but did not read would be loaded one
query a row, silently: every row state (expected, on hold, blocked by the guard, checked in with planned
take-homes, completed with a dose and bottles, missed, excused, a drawn screen, a call-back, a COWS first dose, a
changed order, an escalation) is rendered for every role, with the day's verdicts shared and computed by the page,
and any load of a deferred column fails the test."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models.query_utils import DeferredAttribute

from tests.web.conftest import TODAY
from tests.web.test_board_same_html import ROLES, day_of_every_row  # noqa: F401 - the fixture
from visits.models import Escalation, Visit
from web import selectors

pytestmark = pytest.mark.django_db


@pytest.fixture
def deferred_loads(monkeypatch) -> list[str]:
    """Every deferred column read (model.column), recorded and then loaded as Django would."""
    loads: list[str] = []
    get = DeferredAttribute.__get__

    def recorded(self: DeferredAttribute, instance: Any, cls: Any = None) -> Any:
        if instance is not None and self.field.attname not in instance.__dict__:
            loads.append(f"{type(instance).__name__}.{self.field.attname}")
        return get(self, instance, cls)

    monkeypatch.setattr(DeferredAttribute, "__get__", recorded)
    return loads


@pytest.fixture
def blocked_row(day_of_every_row, clinic) -> Visit:  # noqa: F811
    """An open row the guard refuses for a reason other than a hold: its dose was given already today."""
    held = set(Escalation.objects.values_list("patient_id", flat=True))
    row = next(v for v in day_of_every_row if v.status == "scheduled" and v.kind == "dose" and v.patient_id not in held
               and Visit.objects.get(pk=v.pk).status == "scheduled")
    Visit.objects.create(patient=row.patient, clinic=clinic, plan=row.plan, kind="dose", status="completed",
                         date=TODAY, source="manual")
    return row


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("shared", [False, True], ids=["verdicts-of-the-page", "verdicts-of-the-day"])
def test_the_board_loads_no_column_it_did_not_read(client_as, clinic, blocked_row, role, shared, deferred_loads):
    client = client_as(role)
    if shared:
        assert client.get(f"/clinics/{clinic.pk}/today/counts/").status_code == 200
    deferred_loads.clear()
    html = client.get(f"/clinics/{clinic.pk}/today/").content.decode()
    assert deferred_loads == []
    for text in ("row-expected", "row-on_hold", "row-blocked", "row-checked_in", "row-completed", "row-missed",
                 "row-excused", "badge-escalation esc-hold", "+2 take-home"):
        assert text in html, text
    if role in ("nurse", "clinician"):
        assert "Planned take-homes" in html  # the checked-in row's ledger, which reads the plan


def test_the_board_reads_its_rows_with_only_the_listed_columns(clinic, day_of_every_row):  # noqa: F811
    page = selectors.board_page(clinic=clinic, day=TODAY, page=1)
    assert page and all("start" not in v.__dict__ and "created" not in v.patient.__dict__ for v in page)
