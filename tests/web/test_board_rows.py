"""The today board's rows printed in Python (web/templatetags/board_rows.py, issue #16) are the bytes the row
template printed (kept beside this test as board_row_before.html): hypothesis over every value and flag a row
carries, special characters included, for each role's `can` and with or without a CSRF token. The whole page is
held equal in test_board_same_html.py."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.template import engines
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.models import DoseOrder, Patient
from visits.models import Escalation, Visit
from web.selectors import Bottle, DoseDue

BEFORE = engines["django"].from_string(Path(__file__).with_name("board_row_before.html").read_text())
NOW = engines["django"].from_string("{% load board_rows %}\n    {% board_rows rows %}\n")
DAY = date(2026, 11, 16)

texts = st.text(alphabet="aZ <>&\"'é—·%{}", max_size=6)
maybe_texts = st.one_of(st.just(""), texts)
amounts = st.decimals(min_value=0, max_value=500, places=2, allow_nan=False, allow_infinity=False)
days = st.dates(min_value=DAY - timedelta(days=40), max_value=DAY + timedelta(days=40))
orders = st.builds(lambda mg, day: DoseOrder(dose_mg=mg, effective_date=day), amounts, days)
small = st.integers(min_value=0, max_value=40)


@st.composite
def visits(draw: Any) -> Visit:
    patient = Patient(first_name=draw(texts), last_name=draw(texts))
    return Visit(
        pk=draw(st.integers(min_value=1, max_value=10**9)),
        patient=patient,
        kind=draw(st.sampled_from(["dose", "injection", "counselling", "callback", "screen"])),
        status=draw(st.sampled_from(["scheduled", "checked_in", "completed", "missed", "excused"])),
        date=draw(st.sampled_from([DAY, DAY - timedelta(days=1)])),
        dose_mg=draw(st.one_of(st.none(), amounts)),
        dose_reason=draw(maybe_texts),
        drug_screen=draw(st.booleans()),
        drug_screen_result=draw(st.sampled_from(["", "negative", "positive", "refused", "invalid"])),
        drug_screen_substances=draw(st.one_of(st.none(), st.lists(texts, max_size=2))),
        callback_bottles_handed_out=draw(st.one_of(st.none(), small)),
        callback_bottles_brought=draw(st.one_of(st.none(), small)),
    )


@st.composite
def dues(draw: Any) -> DoseDue | None:
    """As board_doses makes them: an amount and a change only with an order in force."""
    if draw(st.booleans()):
        return None
    order = draw(st.one_of(st.none(), orders))
    last = draw(st.one_of(st.none(), days))
    return DoseDue(
        order=order,
        amount=None if order is None else draw(st.one_of(amounts, st.just(order.dose_mg))),
        changed=order is not None and last is not None and draw(st.booleans()),
        last_dose_date=last,
        offers_cows=draw(st.booleans()),
        cows_today=draw(st.one_of(st.none(), st.integers(min_value=0, max_value=48))),
    )


escalations = st.lists(
    st.builds(
        lambda kind, reason, n: Escalation(kind=kind, reason=reason, consecutive_missed=n),
        st.sampled_from([k for k, _ in Escalation.KIND_CHOICES] + ["unknown"]),
        texts,
        small,
    ),
    max_size=3,
)
bottles = st.lists(
    st.tuples(
        st.builds(Bottle, number=st.integers(min_value=1, max_value=31), day=days, order=st.one_of(st.none(), orders)),
        maybe_texts,
    ),
    max_size=3,
)
URLS = (
    "patient",
    "check_in",
    "complete",
    "cows",
    "undo_check_in",
    "reopen",
    "excuse",
    "screen_result",
    "callback_bottles",
)


@st.composite
def rows(draw: Any) -> dict[str, Any]:
    visit = draw(visits())
    flags = (
        "has_plan",
        "excuse_open",
        "screen",
        "is_dose",
        "given",
        "may_check_in",
        "may_complete",
        "may_record_cows",
        "may_undo_check_in",
        "may_reopen",
        "may_excuse",
    )
    words = (
        "status",
        "kind",
        "kind_label",
        "medication_label",
        "first_name",
        "last_name",
        "mrn",
        "born",
        "name",
        "badge",
        "badge_label",
        "blocker",
        "error",
        "take_home_reason",
        "excuse_reason",
        "dose_reason",
        "dose_error",
        "bottle_error",
    )
    row: dict[str, Any] = {flag: draw(st.booleans()) for flag in flags}
    row.update({word: draw(maybe_texts) for word in words})
    row.update(
        visit=visit,
        pk=str(visit.pk),
        urls={name: draw(texts) for name in URLS},
        escalations=draw(escalations),
        planned=draw(st.one_of(st.none(), small)),
        take_home_value=draw(st.one_of(small, maybe_texts)),
        due=draw(dues()),
        dose_value=draw(st.one_of(maybe_texts, amounts.map(str))),
        bottles=draw(bottles),
        bottles_given=draw(st.lists(st.tuples(st.one_of(st.none(), amounts), days), max_size=3)),
        take_homes_given=draw(st.one_of(st.none(), small)),
    )
    return row


ROLES = st.fixed_dictionaries({name: st.booleans() for name in ("front_desk", "dosing", "clinical")})


def _both(context: dict[str, Any]) -> tuple[str, str]:
    return BEFORE.render(context), NOW.render(context)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(rows(), max_size=3), can=ROLES, csrf=st.sampled_from(["t0k3n&<", "NOTPROVIDED", ""]))
def test_each_row_prints_what_the_row_template_printed(rows, can, csrf):
    before, now = _both({"rows": rows, "can": can, "day": DAY, "csrf_token": csrf})
    assert now == before


def test_a_row_of_every_form_prints_what_it_printed():
    """One row with every form open at once (what hypothesis reaches only now and then), all values present."""
    visit = Visit(
        pk=7,
        patient=Patient(first_name="Ana", last_name="O'Neil <x>"),
        kind="callback",
        status="checked_in",
        date=DAY,
        dose_mg=Decimal("37.50"),
        dose_reason="part",
        drug_screen=True,
        callback_bottles_handed_out=3,
    )
    order = DoseOrder(dose_mg=Decimal("40.00"), effective_date=DAY - timedelta(days=2))
    row: dict[str, Any] = {
        "visit": visit,
        "pk": "7",
        "status": "checked_in",
        "kind": "dose",
        "kind_label": "Dose",
        "has_plan": True,
        "medication_label": "Methadone",
        "first_name": "Ana",
        "last_name": "O'Neil <x>",
        "mrn": "M&1",
        "born": "9 March 1980",
        "name": "Ana O'Neil <x>",
        "urls": {name: f"/{name}/7/" for name in URLS},
        "badge": "blocked",
        "badge_label": "Blocked",
        "blocker": 'plan on hold: "review"',
        "escalations": [
            Escalation(kind="hold", reason="3 <days>", consecutive_missed=3),
            Escalation(kind="outreach", reason="x", consecutive_missed=0),
        ],
        "error": "Refused & why",
        "planned": 2,
        "take_home_value": "3",
        "take_home_reason": "trip",
        "excuse_reason": "ill",
        "excuse_open": True,
        "due": DoseDue(
            order=order,
            amount=Decimal("20.00"),
            changed=True,
            last_dose_date=DAY - timedelta(days=5),
            offers_cows=True,
            cows_today=12,
        ),
        "dose_value": "20",
        "dose_reason": "less",
        "dose_error": "too <much>",
        "bottles": [
            (Bottle(number=1, day=DAY + timedelta(days=1), order=order), "19.5"),
            (Bottle(number=2, day=DAY + timedelta(days=2), order=None), ""),
        ],
        "bottle_error": "bottle 2?",
        "bottles_given": [(Decimal("40"), DAY), (None, DAY + timedelta(days=1))],
        "screen": True,
        "is_dose": True,
        "given": False,
        "take_homes_given": 2,
        "may_check_in": True,
        "may_complete": True,
        "may_record_cows": True,
        "may_undo_check_in": True,
        "may_reopen": True,
        "may_excuse": True,
    }
    can = {"front_desk": True, "dosing": True, "clinical": True}
    before, now = _both(
        {"rows": [row, {**row, "given": True, "bottles": []}], "can": can, "day": DAY, "csrf_token": "tok"}
    )
    assert now == before
    for text in (
        'id="bottle-7-2"',
        "split dose",
        "Order changed",
        "COWS today: 12",
        "esc-hold",
        "Record bottles",
        'aria-describedby="planned-7 err-7"',
        "Re-open (late arrival)",
        "O&#x27;Neil &lt;x&gt;",
    ):
        assert text in now
