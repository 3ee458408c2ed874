"""Issue #16: generation simulates each plan shape once a clinic (_Shapes) and writes a COPY line from whole cached
parts (_RowLines). Both must give exactly what the plan-by-plan engine and the value-by-value text gave: every plan's
wanted visits, its own copy of them, and the same rows in the table."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler import engine
from scheduler.models import Patient, Plan
from scheduler.rules import PRESETS, preset_rules
from tests.factories import ClosureFactory, PatientFactory, PauseFactory, PlanFactory, WindowFactory
from visits import generation
from visits.generation import _CopyText, _Input, _RowLines, _simulate, desired_visits, visits_generate
from visits.models import StaffTask, Visit

# Days just before a daylight-saving change somewhere: US spring/fall, EU spring/fall, Australia autumn.
DST_DAYS = [date(2026, 3, 8), date(2026, 11, 1), date(2026, 3, 29), date(2026, 10, 25), date(2026, 4, 5)]
ZONES = ["America/New_York", "Europe/London", "Australia/Sydney", "UTC"]
HORIZON = 28


def _reference(item: _Input) -> dict:
    """The plan-by-plan answer, as _simulate gave it before shapes were shared."""
    if item.date_from > item.date_to:
        return desired_visits(item.plan, [])
    return desired_visits(
        item.plan, engine.plan_days(item.spec, item.calendar, item.rules, item.date_from, item.date_to)
    )


@st.composite
def _calendar(draw, first: date) -> engine.Calendar:
    tz = draw(st.sampled_from(ZONES))
    windows = [
        engine.Window(
            1,
            frozenset(draw(st.sets(st.integers(0, 6), min_size=1))),
            time(7),
            time(10),
            frozenset({"methadone", "buprenorphine"}),
            50,
        ),
        # A window in the small hours: inside the spring-forward gap on a change day.
        engine.Window(2, frozenset(range(7)), time(2, 0), time(3, 30), frozenset({"methadone", "diamorphine"}), 9),
        engine.Window(
            3,
            frozenset(draw(st.sets(st.integers(0, 6), min_size=1))),
            time(14),
            time(17),
            frozenset({"methadone", "diamorphine", "naltrexone_xr", "buprenorphine_xr_weekly"}),
            20,
        ),
    ]
    closures = tuple(
        engine.Closure(first + timedelta(days=offset), frozenset(services), "holiday")
        for offset, services in draw(
            st.dictionaries(
                st.integers(0, HORIZON + 5), st.sampled_from([(), ("methadone",), ("diamorphine",)]), max_size=4
            )
        ).items()
    )
    return engine.Calendar(tz, tuple(windows), closures)


@st.composite
def _shape(draw, first: date, medication: str) -> dict:
    start = first + timedelta(days=draw(st.integers(-40, 10)))
    pauses = ()
    if draw(st.booleans()):
        at = first + timedelta(days=draw(st.integers(-3, HORIZON)))
        pauses = (engine.Pause(at, at + timedelta(days=draw(st.integers(0, 6))), "guest_dosing"),)
    shape = {
        "medication": medication,
        "start_date": start,
        "treatment_start": start - timedelta(days=draw(st.sampled_from([0, 13, 29, 89, 270, 800]))),
        "end_date": draw(st.none() | st.just(first + timedelta(days=draw(st.integers(0, HORIZON + 3))))),
        "attendance_weekdays": frozenset(draw(st.sets(st.integers(0, 6), min_size=1))),
        "attendance_every_weeks": draw(st.integers(1, 2)),
        "pauses": pauses,
        "takehome_suspended_from": draw(st.none() | st.just(first + timedelta(days=draw(st.integers(0, 20))))),
        "min_interval_minutes": 0,
        "doses_per_day": 1,
    }
    if medication == "methadone":
        shape["doses_per_day"] = draw(st.integers(1, 2))
        shape["min_interval_minutes"] = draw(st.sampled_from([0, 240]))
    elif medication == "buprenorphine":
        shape["interval_days"] = draw(st.sampled_from([None, 1, 2]))
    elif medication == "diamorphine":
        shape["doses_per_day"] = draw(st.integers(1, 3))
        shape["min_interval_minutes"] = draw(st.sampled_from([0, 60, 180]))
    else:
        shape["last_injection_date"] = draw(st.none() | st.just(first - timedelta(days=draw(st.integers(1, 40)))))
    return shape


def _item(n: int, shape: dict, calendar: engine.Calendar, rules, today: date) -> _Input:
    spec = engine.PlanSpec(**shape)
    plan = Plan(
        pk=n,
        medication=spec.medication,
        start_date=spec.start_date,
        end_date=spec.end_date,
        min_interval_minutes=spec.min_interval_minutes,
        patient=Patient(pk=n, clinic_id=1),
    )
    date_to = today + timedelta(days=HORIZON - 1)
    if spec.end_date is not None:
        date_to = min(date_to, spec.end_date)
    return _Input(plan, today, max(today, spec.start_date), date_to, spec, calendar, rules)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_shared_shapes_want_exactly_what_each_plan_alone_wants(data):
    first = data.draw(st.sampled_from(DST_DAYS)) - timedelta(days=data.draw(st.integers(0, 6)))
    calendars = data.draw(st.lists(_calendar(first), min_size=1, max_size=2))
    rules = [preset_rules(name) for name in sorted(PRESETS)]
    # Shapes of one medication (they differ in what else a plan says) or of several.
    medications = st.sampled_from(
        ["methadone", "buprenorphine", "diamorphine", "naltrexone_xr", "buprenorphine_xr_weekly"]
    )
    one = data.draw(medications)
    of = st.just(one) if data.draw(st.booleans()) else medications
    shapes = data.draw(st.lists(of.flatmap(lambda medication: _shape(first, medication)), min_size=1, max_size=4))
    # Plans of those few shapes, in runs and back and forth between clinics (calendars) and rule sets.
    picks = data.draw(
        st.lists(
            st.tuples(
                st.integers(0, len(shapes) - 1), st.integers(0, len(calendars) - 1), st.integers(0, len(rules) - 1)
            ),
            min_size=2,
            max_size=14,
        )
    )
    items: list[_Input] = []
    for n, (s, c, r) in enumerate(picks):
        item = _item(n + 1, shapes[s], calendars[c], rules[r], first - timedelta(days=data.draw(st.integers(0, 3))))
        try:
            _reference(item)
        except engine.PlanNotSatisfiable:
            continue  # refused the same way either way; the job never gets such a plan
        items.append(item)

    works = _simulate(items)

    assert [w.wanted for w in works] == [_reference(item) for item in items]
    assert len({id(w.wanted) for w in works}) == len(works)  # each plan its own dict: placing edits it
    if len(works) > 1 and works[0].wanted:
        works[0].wanted.clear()
        assert [w.wanted for w in works[1:]] == [_reference(item) for item in items[1:]]


def test_equal_shapes_are_simulated_once_per_clinic(monkeypatch):
    calls = []
    real = engine.plan_days_read
    monkeypatch.setattr(engine, "plan_days_read", lambda *a: calls.append(a) or real(*a))
    today = date(2026, 10, 28)
    shape = {"medication": "methadone", "start_date": today, "attendance_weekdays": frozenset({0, 1, 2, 3, 4, 5})}
    window = engine.Window(1, frozenset(range(7)), time(7), time(10), frozenset({"methadone"}), 50)
    a, b = engine.Calendar("America/New_York", (window,)), engine.Calendar("America/New_York", (window,))
    rules = preset_rules()
    works = _simulate([_item(n, shape, cal, rules, today) for n, cal in enumerate([a, a, a, b, b, a], start=1)])
    assert len(calls) == 3  # a, then b, then a again (one clinic held at a time)
    assert len({tuple(w.wanted.items()) for w in works}) == 1 and works[0].wanted


def _old_line(texts: _CopyText, visit_id: int, row: tuple, tail: str) -> str:
    return f"{visit_id}\t" + "\t".join(map(texts.__getitem__, row)) + tail


_INSTANTS = st.datetimes(
    min_value=datetime(2026, 1, 1),
    max_value=datetime(2026, 12, 31),
    timezones=st.sampled_from([UTC, ZoneInfo("America/New_York"), ZoneInfo("Europe/London")]),
)
_VALUE = (
    st.none()
    | st.integers(0, 5)
    | st.sampled_from(["dose", "a\tb", "back\\slash", "line\nbreak", "é"])
    | st.dates(date(2026, 1, 1), date(2026, 1, 5))
    | _INSTANTS
)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(*[_VALUE] * 15), max_size=40), repeat=st.lists(st.integers(0, 39), max_size=20))
def test_copy_lines_are_the_value_by_value_text(rows, repeat):
    rows = rows + [rows[i] for i in repeat if i < len(rows)]  # repeated heads and rests, as a clinic's plans give
    ids = list(range(1, len(rows) + 1))
    tail = "\tplan\tscheduled\n"
    old_texts = _CopyText()
    expected = "".join(_old_line(old_texts, i, row, tail) for i, row in zip(ids, rows, strict=True))
    lines = _RowLines(_CopyText(), tail)
    half = len(rows) // 2  # two blocks, as _copy_rows writes them
    assert lines.block(ids[:half], rows[:half]) + lines.block(ids[half:], rows[half:]) == expected


# --- the table: the same rows either way ----------------------------------------------------------------------

NY = ZoneInfo("America/New_York")


class _Undo(Exception):
    pass


def _rows() -> tuple[list[tuple], list[str]]:
    skip = {"id", "created", "updated"}
    fields = [f.attname for f in Visit._meta.concrete_fields if f.attname not in skip]
    return list(Visit.objects.order_by("id").values_list(*fields)), sorted(
        StaffTask.objects.values_list("detail", flat=True)
    )


def _unshared(self, plan, spec, calendar, rules, date_from, date_to):
    days = engine.plan_days(spec, calendar, rules, date_from, date_to) if date_from <= date_to else []
    return desired_visits(plan, days)


@pytest.mark.django_db
@pytest.mark.parametrize("now", [datetime(2026, 10, 28, 5, 0, tzinfo=NY), datetime(2026, 3, 4, 5, 0, tzinfo=NY)])
def test_generation_writes_the_same_rows_as_plan_by_plan(clinic, monkeypatch, now):
    """Many plans of few shapes, over a daylight-saving change, a holiday, take-home Sundays, pauses, full windows
    (some visits move to the next window, some are left out) and every medication; rows in id order."""
    with time_machine.travel(now, tick=False):
        today = now.date()
        WindowFactory(
            clinic=clinic, weekdays=[0, 1, 2, 3, 4], start=time(13), end=time(15), services=["methadone"], capacity=6
        )
        morning = clinic.windows.get(start=time(7))
        morning.capacity = 16
        morning.save()
        ClosureFactory(clinic=clinic, date=today + timedelta(days=9), reason="holiday")
        for n in range(24):
            plan = PlanFactory(
                patient=PatientFactory(clinic=clinic),
                medication="methadone",
                start_date=today,
                treatment_start=today - timedelta(days=(0, 60, 400)[n % 3]),
                attendance_weekdays=[0, 1, 2, 3, 4, 5],
                doses_per_day=2 if n % 8 == 0 else 1,
            )
            if n % 7 == 0:
                PauseFactory(plan=plan, start=today + timedelta(days=3), end=today + timedelta(days=5))
        for medication, doses in (("buprenorphine", 1), ("diamorphine", 2), ("naltrexone_xr", 1)):
            for _ in range(3):
                PlanFactory(
                    patient=PatientFactory(clinic=clinic),
                    medication=medication,
                    start_date=today,
                    doses_per_day=doses,
                    min_interval_minutes=180 if medication == "diamorphine" else 0,
                )

        with pytest.raises(_Undo), transaction.atomic():
            with monkeypatch.context() as patched:
                patched.setattr(generation._Shapes, "wanted", _unshared)
                old_result = visits_generate(horizon_days=HORIZON)
            old = _rows()
            raise _Undo
        new_result = visits_generate(horizon_days=HORIZON)
        new = _rows()

    assert new == old
    assert (new_result.created, new_result.unplaced) == (old_result.created, old_result.unplaced)
    assert new_result.created > 300 and new_result.unplaced > 0 and new[1]  # full windows: some left out


def test_at_most_the_held_shapes_are_kept_and_answers_stay_the_same(monkeypatch):
    monkeypatch.setattr(generation, "_SHAPES_HELD", 1)
    calls = []
    real = engine.plan_days_read
    monkeypatch.setattr(engine, "plan_days_read", lambda *a: calls.append(a) or real(*a))
    today = date(2026, 3, 4)
    window = engine.Window(1, frozenset(range(7)), time(7), time(10), frozenset({"methadone"}), 50)
    calendar, rules = engine.Calendar("America/New_York", (window,)), preset_rules()
    shapes = [
        {"medication": "methadone", "start_date": today, "attendance_weekdays": frozenset(days)}
        for days in ({0, 1, 2, 3, 4, 5}, {0, 2, 4}, {0, 1, 2, 3, 4, 5})
    ]
    items = [_item(n, shape, calendar, rules, today) for n, shape in enumerate(shapes, start=1)]
    works = _simulate(items)
    assert len(calls) == 3  # the first shape was let go for the second, and simulated again
    assert [w.wanted for w in works] == [_reference(item) for item in items]
    assert works[0].wanted == works[2].wanted != works[1].wanted
