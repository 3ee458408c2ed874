"""The board's live counts computed once for every open screen of a clinic (issue #16): the guard's verdicts on the
day's rows are shared through the cache until a write changes the day, or BOARD_CACHE_SECONDS pass."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
import time_machine
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import PatientFactory, PlanFactory
from tests.web.conftest import MORNING, TODAY
from visits.generation import visits_generate
from visits.models import Escalation, Visit
from web import selectors

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def board_cache(monkeypatch) -> LocMemCache:
    """An empty cache of the board's own for each test (Redis outlives the test's transaction)."""
    cache = LocMemCache("dosewise-test-board", {})
    cache.clear()
    monkeypatch.setattr(selectors, "cache", cache)
    return cache


def _hold(plan) -> Escalation:
    return Escalation.objects.create(
        patient=plan.patient, plan=plan, clinic=plan.patient.clinic, kind="hold",
        reason="3 consecutive days without medication", consecutive_missed=3, anchor_date=date(2026, 11, 12),
    )


@pytest.fixture
def day(clinic, morning) -> list[Visit]:
    """Six patients with a dose today; the first two on hold."""
    plans = [
        PlanFactory(patient=PatientFactory(clinic=clinic, last_name=f"Shared{i}"), start_date=date(2026, 11, 1))
        for i in range(6)
    ]
    visits_generate(plans=plans, today=TODAY, horizon_days=1)
    for plan in plans[:2]:
        _hold(plan)
    return list(Visit.objects.filter(clinic=clinic, date=TODAY).order_by("patient__last_name"))


def _counts(client, clinic) -> tuple[dict, int]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"/clinics/{clinic.pk}/today/counts/")
    assert response.status_code == 200
    return response.json(), len(ctx.captured_queries)


def _guard_reads(ctx: CaptureQueriesContext) -> int:
    """The guard's own reads: the patients' dose history (a UNION of two reads) and their open escalations."""
    return sum(1 for q in ctx.captured_queries if " UNION " in q["sql"] or '"visits_escalation"."kind" IN' in q["sql"])


def test_a_second_screen_gets_the_same_counts_without_asking_the_guard_again(client_as, clinic, day):
    first, cold = _counts(client_as("nurse"), clinic)
    assert (first["on_hold"], first["expected"], first["total"]) == (2, 4, 6)
    front = client_as("front_desk")
    with CaptureQueriesContext(connection) as ctx:
        second = front.get(f"/clinics/{clinic.pk}/today/counts/").json()
    assert second == first
    assert _guard_reads(ctx) == 0 and len(ctx.captured_queries) <= cold - 4  # the rows and the guard's three


def test_a_check_in_shows_at_the_next_poll(client_as, clinic, day):
    nurse = client_as("nurse")
    assert _counts(nurse, clinic)[0]["checked_in"] == 0
    assert client_as("front_desk").post(f"/visits/{day[3].pk}/check-in/").status_code == 302
    counts, _ = _counts(nurse, clinic)
    assert (counts["checked_in"], counts["expected"], counts["on_hold"]) == (1, 3, 2)


def test_a_resolved_hold_shows_at_the_next_poll_though_no_visit_changed(client_as, clinic, day):
    nurse = client_as("nurse")
    assert _counts(nurse, clinic)[0]["on_hold"] == 2
    # What the resolving service writes (visits.missed): the escalation alone, no visit row.
    Escalation.objects.filter(patient_id=day[0].patient_id).update(resolved_at=MORNING)
    counts, _ = _counts(nurse, clinic)
    assert (counts["on_hold"], counts["expected"]) == (1, 5)


def test_a_write_that_leaves_updated_as_it_was_still_shows_at_the_next_poll(client_as, clinic, day):
    nurse = client_as("nurse")
    assert _counts(nurse, clinic)[0]["checked_in"] == 0
    # Time is frozen: a write stamps the same `updated` as the last one (another server's clock could be behind).
    Visit.objects.filter(pk=day[4].pk).update(status="checked_in")
    assert _counts(nurse, clinic)[0]["checked_in"] == 1


def test_a_new_hold_shows_at_the_next_poll(client_as, clinic, day):
    nurse = client_as("nurse")
    assert _counts(nurse, clinic)[0]["on_hold"] == 2
    _hold(day[5].plan)
    assert _counts(nurse, clinic)[0]["on_hold"] == 3


def test_the_shared_counts_expire_after_the_cache_period(client_as, clinic, day):
    nurse = client_as("nurse")
    _, cold = _counts(nurse, clinic)
    with time_machine.travel(MORNING + timedelta(seconds=selectors.BOARD_CACHE_SECONDS - 1), tick=False):
        assert _counts(nurse, clinic)[1] <= cold - 4
    with time_machine.travel(MORNING + timedelta(seconds=selectors.BOARD_CACHE_SECONDS + 1), tick=False):
        assert _counts(nurse, clinic)[1] == cold  # the guard asked again: time alone can change a verdict


def test_another_clinics_day_is_never_served_from_this_clinics_entry(client_as, clinic, other_clinic, day, staff):
    _counts(client_as("nurse"), clinic)
    assert selectors.board_stamp(clinic=clinic, day=TODAY) != selectors.board_stamp(clinic=other_clinic, day=TODAY)
    assert selectors.day_verdicts(clinic=other_clinic, day=TODAY, compute=False) is None


def _board(client, clinic) -> tuple[str, CaptureQueriesContext]:
    with CaptureQueriesContext(connection) as ctx:
        html = client.get(f"/clinics/{clinic.pk}/today/").content.decode()
    return html, ctx


def _states(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<tr id="visit-(\d+)" class="row-(\w+)">', html)


def test_the_board_shows_the_shared_verdicts_and_skips_the_guards_reads(client_as, clinic, day, board_cache):
    nurse = client_as("nurse")
    computed, cold = _board(nurse, clinic)
    assert _guard_reads(cold) == 2
    assert [s for _, s in _states(computed)] == ["on_hold", "on_hold", "expected", "expected", "expected", "expected"]
    _counts(nurse, clinic)  # a screen's poll stores the day's verdicts
    shared, warm = _board(nurse, clinic)
    assert _guard_reads(warm) == 0 and len(warm.captured_queries) <= len(cold.captured_queries) - 3
    assert _states(shared) == _states(computed)
    assert shared.count("plan on hold: hold since") == computed.count("plan on hold: hold since") == 2


def test_a_page_never_stores_verdicts_for_the_day_from_its_own_rows(client_as, clinic, day, board_cache):
    _board(client_as("nurse"), clinic)
    assert selectors.day_verdicts(clinic=clinic, day=TODAY, compute=False) is None


def test_checked_in_rows_share_their_planned_take_homes_until_the_day_changes(client_as, clinic, day):
    front, nurse = client_as("front_desk"), client_as("nurse")
    for visit in day[2:4]:
        front.post(f"/visits/{visit.pk}/check-in/")
    first, cold = _board(nurse, clinic)
    again, warm = _board(nurse, clinic)
    calendar_reads = ("scheduler_closure", "scheduler_pause", "scheduler_dosingwindow")
    assert any(any(f'FROM "{t}"' in q["sql"] for t in calendar_reads) for q in cold.captured_queries)
    assert not any(any(f'FROM "{t}"' in q["sql"] for t in calendar_reads) for q in warm.captured_queries)
    assert re.findall(r"Planned take-homes: \d+", again) == re.findall(r"Planned take-homes: \d+", first) != []
    front.post(f"/visits/{day[4].pk}/check-in/")  # a write: the ledger is asked again, now for three rows
    _, after = _board(nurse, clinic)
    assert any(any(f'FROM "{t}"' in q["sql"] for t in calendar_reads) for q in after.captured_queries)


def test_the_board_reads_the_days_stamp_with_its_headings(clinic, day):
    slots, stamp = selectors.board_day(clinic=clinic, day=TODAY)
    assert sum(s.count for s in slots) == 6
    assert stamp == selectors.board_stamp(clinic=clinic, day=TODAY)  # the key the counts endpoint stores under


def test_the_front_desk_board_reads_no_bottles_it_does_not_show(client_as, clinic, day):
    Visit.objects.filter(pk=day[5].pk).update(expected_take_home_doses=2)  # two bottles planned at one open row
    def order_reads(role: str) -> tuple[int, str]:
        html, ctx = _board(client_as(role), clinic)
        return sum('FROM "scheduler_doseorder"' in q["sql"] for q in ctx.captured_queries), html

    nurse_reads, nurse_html = order_reads("nurse")
    desk_reads, desk_html = order_reads("front_desk")
    assert (nurse_reads, desk_reads) == (2, 1)  # the orders in force (the amount due) for both; bottles for nurses
    assert "Planned take-homes: 2" in nurse_html and f'id="bottle-{day[5].pk}-2"' in nurse_html
    assert "Planned take-homes" not in desk_html and 'id="bottle-' not in desk_html
    assert re.findall(r'id="due-\d+"', nurse_html) == re.findall(r'id="due-\d+"', desk_html)


class _DownCache:
    def get(self, key):
        raise ConnectionError("redis is down")

    def set(self, key, value, timeout):
        raise ConnectionError("redis is down")


def test_the_board_and_its_counts_are_computed_when_the_cache_is_down(client_as, clinic, day, monkeypatch):
    monkeypatch.setattr(selectors, "cache", _DownCache())
    nurse = client_as("nurse")
    counts, _ = _counts(nurse, clinic)
    assert (counts["on_hold"], counts["expected"]) == (2, 4)
    html, ctx = _board(nurse, clinic)
    assert [s for _, s in _states(html)] == ["on_hold", "on_hold", "expected", "expected", "expected", "expected"]
    assert _guard_reads(ctx) == 2


def test_a_row_completed_since_the_stamp_was_read_shows_no_shared_refusal(clinic, day):
    stamp = selectors.board_stamp(clinic=clinic, day=TODAY)
    stored = selectors.day_verdicts(clinic=clinic, day=TODAY, stamp=stamp)
    assert stored is not None and {day[0].pk, day[1].pk} <= set(stored.blockers)
    day[0].status = "completed"  # the page read its rows after a completion its stamp did not see yet
    assert list(selectors.page_blockers(clinic=clinic, day=TODAY, visits=day[:2], stamp=stamp)) == [day[1].pk]


# --- a page's own entry: the guard asked once for every screen showing the page, no counts poll needed ---------


def test_a_second_screen_gets_the_page_without_asking_the_guard_again(client_as, clinic, day):
    first, cold = _board(client_as("nurse"), clinic)
    assert _guard_reads(cold) == 2
    second, warm = _board(client_as("nurse"), clinic)
    assert _guard_reads(warm) == 0 and len(warm.captured_queries) <= len(cold.captured_queries) - 4
    assert _states(second) == _states(first)
    assert [s for _, s in _states(second)] == ["on_hold", "on_hold", "expected", "expected", "expected", "expected"]
    assert second.count("plan on hold: hold since") == first.count("plan on hold: hold since") == 2
    assert second.count("badge-escalation esc-hold") == first.count("badge-escalation esc-hold") == 2


def test_a_page_shows_a_write_at_its_next_load(client_as, clinic, day):
    nurse = client_as("nurse")
    _board(nurse, clinic)
    _hold(day[5].plan)  # a new hold: the day's stamp moves
    html, ctx = _board(nurse, clinic)
    assert _guard_reads(ctx) == 2
    assert [s for _, s in _states(html)][-1] == "on_hold"
    Escalation.objects.filter(patient_id=day[0].patient_id).update(resolved_at=MORNING)
    html, _ = _board(nurse, clinic)
    assert [s for _, s in _states(html)] == ["expected", "on_hold", "expected", "expected", "expected", "on_hold"]
    assert client_as("front_desk").post(f"/visits/{day[3].pk}/check-in/").status_code == 302
    html, _ = _board(nurse, clinic)
    assert [s for _, s in _states(html)][3] == "checked_in"


def test_a_page_asks_the_guard_again_when_the_minute_turns(client_as, clinic, day):
    """The guard's words count the minutes since a diamorphine session: an entry serves within its minute only."""
    nurse = client_as("nurse")
    seconds = 60 - MORNING.second - 1  # the last second of MORNING's minute
    with time_machine.travel(MORNING + timedelta(seconds=seconds), tick=False):
        _board(nurse, clinic)
    with time_machine.travel(MORNING + timedelta(seconds=seconds + 1), tick=False):
        assert _guard_reads(_board(nurse, clinic)[1]) == 2


def test_a_page_asks_the_guard_again_when_a_plan_it_reads_changes(client_as, clinic, day):
    """A plan's facts the guard reads (its sessions a day…) are not in the day's stamp: they are in the page's key."""
    nurse = client_as("nurse")
    _board(nurse, clinic)
    type(day[4].plan).objects.filter(pk=day[4].plan_id).update(min_interval_minutes=45)
    assert _guard_reads(_board(nurse, clinic)[1]) == 2


def test_a_row_whose_status_changed_since_the_stamp_gets_its_own_entry(clinic, day):
    stamp = selectors.board_stamp(clinic=clinic, day=TODAY)
    stored = selectors.page_verdicts(clinic=clinic, day=TODAY, visits=day, stamp=stamp)
    assert stored is not None and set(stored.blockers) == {day[0].pk, day[1].pk}
    day[0].status = "completed"  # the page read its rows after a completion its stamp did not see yet
    again = selectors.page_verdicts(clinic=clinic, day=TODAY, visits=day, stamp=stamp)
    assert again is not None and set(again.blockers) == {day[1].pk}
    assert selectors.day_verdicts(clinic=clinic, day=TODAY, stamp=stamp, compute=False) is None  # never the day's
