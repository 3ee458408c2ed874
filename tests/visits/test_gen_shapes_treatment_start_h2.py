"""Issue #16: generation's shape memo (_Shapes) gives an answer to a plan that differs from the plan simulated only in
its treatment start, when what the answer read of the treatment start (engine.TreatmentStartReads) holds for it: a
clinic's patients start treatment on days of their own. Every plan must still want exactly what simulating it alone
gives, and the table must get the same rows."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler import engine
from scheduler.models import RuleSet
from scheduler.rules import PRESETS, preset_rules
from tests.factories import ClosureFactory, PatientFactory, PauseFactory, PlanFactory, WindowFactory
from tests.visits.test_gen_shapes_h3 import DST_DAYS, _calendar, _item, _reference, _rows, _shape, _Undo, _unshared
from visits import generation
from visits.generation import _simulate, visits_generate

# Treatment days around the take-home tiers' edges (2001: 91, 181, 271, 366; 2024: 15, 31) and far from them.
OFFSETS = [0, 5, 13, 14, 29, 30, 60, 89, 90, 179, 180, 269, 270, 364, 365, 800]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_plans_that_differ_in_their_treatment_start_want_what_each_alone_wants(data):
    first = data.draw(st.sampled_from(DST_DAYS)) - timedelta(days=data.draw(st.integers(0, 6)))
    calendar = data.draw(_calendar(first))
    rules = data.draw(st.sampled_from([preset_rules(name) for name in sorted(PRESETS)]))
    medication = data.draw(st.sampled_from(["methadone", "methadone", "buprenorphine", "diamorphine", "naltrexone_xr"]))
    shape = data.draw(_shape(first, medication))
    today = first - timedelta(days=data.draw(st.integers(0, 3)))
    starts = data.draw(
        st.lists(st.sampled_from(OFFSETS).map(lambda n: n + data.draw(st.integers(0, 3))), min_size=2, max_size=16)
    )
    items = []
    for n, offset in enumerate(starts, start=1):
        item = _item(
            n, {**shape, "treatment_start": shape["start_date"] - timedelta(days=offset)}, calendar, rules, today
        )
        try:
            _reference(item)
        except engine.PlanNotSatisfiable:
            return  # refused the same way whatever the treatment start
        items.append(item)

    works = _simulate(items)

    assert [w.wanted for w in works] == [_reference(item) for item in items]
    assert len({id(w.wanted) for w in works}) == len(works)  # each plan its own dict: placing edits it


def _counting(monkeypatch) -> list[engine.PlanSpec]:
    calls: list[engine.PlanSpec] = []
    real = engine.plan_days_read
    monkeypatch.setattr(engine, "plan_days_read", lambda spec, *a: calls.append(spec) or real(spec, *a))
    return calls


def test_daily_patients_who_started_treatment_on_different_days_are_simulated_once(monkeypatch):
    calls = _counting(monkeypatch)
    today = date(2026, 10, 28)
    window = engine.Window(1, frozenset(range(6)), time(7), time(10), frozenset({"methadone"}), 50)
    calendar, rules = engine.Calendar("America/New_York", (window,)), preset_rules()
    shape = {"medication": "methadone", "start_date": today, "attendance_weekdays": frozenset(range(7))}
    items = [
        _item(n, {**shape, "treatment_start": today - timedelta(days=60 + n)}, calendar, rules, today)
        for n in range(1, 40)
    ]
    works = _simulate(items)
    assert len(calls) == 1
    assert [w.wanted for w in works] == [_reference(item) for item in items]


def test_take_home_patients_share_an_answer_only_within_a_tier(monkeypatch):
    calls = _counting(monkeypatch)
    today = date(2026, 10, 28)
    window = engine.Window(1, frozenset(range(6)), time(7), time(10), frozenset({"methadone"}), 50)
    calendar = engine.Calendar("America/New_York", (window,))
    rules = next(preset_rules(name) for name in sorted(PRESETS) if PRESETS[name]["takehome_tiers"][0]["max_per_week"])
    shape = {"medication": "methadone", "start_date": today - timedelta(days=20), "attendance_weekdays": {0, 2, 4}}
    shape["attendance_weekdays"] = frozenset(shape["attendance_weekdays"])
    # Two patients a year into treatment (a tier of their own for the whole range), then two new patients (each
    # forced to come by the first tier's weekly cap, whose reasons name their own treatment day).
    offsets = [400, 410, 20, 21]
    items = [
        _item(n, {**shape, "treatment_start": shape["start_date"] - timedelta(days=offset)}, calendar, rules, today)
        for n, offset in enumerate(offsets, start=1)
    ]
    works = _simulate(items)
    assert [spec.treatment_start for spec in calls] == [
        items[0].spec.treatment_start,
        *(i.spec.treatment_start for i in items[2:]),
    ]
    assert [w.wanted for w in works] == [_reference(item) for item in items]
    assert works[0].wanted == works[1].wanted != works[2].wanted != works[3].wanted


NY = ZoneInfo("America/New_York")


@pytest.mark.django_db
@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("now", [datetime(2026, 10, 28, 5, 0, tzinfo=NY), datetime(2026, 3, 4, 5, 0, tzinfo=NY)])
def test_generation_of_distinct_treatment_starts_writes_the_same_rows_as_plan_by_plan(clinic, monkeypatch, now, preset):
    """A clinic's patients each with a treatment start of their own (daily, six days and three days a week, split
    doses, pauses), over a daylight-saving change, a holiday run, full windows; rows in id order."""
    calls = _counting(monkeypatch)
    with time_machine.travel(now, tick=False):
        today = now.date()
        clinic.rule_set = RuleSet.objects.create(name=f"{preset} copy", rules=PRESETS[preset])
        clinic.save()
        WindowFactory(
            clinic=clinic, weekdays=[0, 1, 2, 3, 4], start=time(13), end=time(15), services=["methadone"], capacity=6
        )
        morning = clinic.windows.get(start=time(7))
        morning.capacity = 30
        morning.save()
        for offset in (9, 10, 11):
            ClosureFactory(clinic=clinic, date=today + timedelta(days=offset), reason="holiday")
        patterns = ([0, 1, 2, 3, 4, 5, 6], [0, 1, 2, 3, 4, 5], [0, 2, 4])
        for n in range(45):
            plan = PlanFactory(
                patient=PatientFactory(clinic=clinic),
                medication="buprenorphine" if n % 9 == 4 else "methadone",
                start_date=today - timedelta(days=n % 2),
                treatment_start=today - timedelta(days=(3, 60, 200, 400)[n % 4] + n),
                attendance_weekdays=patterns[n % 3],
                doses_per_day=2 if n % 10 == 0 and n % 9 != 4 else 1,
            )
            if n % 11 == 0:
                PauseFactory(plan=plan, start=today + timedelta(days=3), end=today + timedelta(days=5))

        with pytest.raises(_Undo), transaction.atomic():
            with monkeypatch.context() as patched:
                patched.setattr(generation._Shapes, "wanted", _unshared)
                old_result = visits_generate(horizon_days=28)
            old = _rows()
            raise _Undo
        calls.clear()
        new_result = visits_generate(horizon_days=28)
        new = _rows()

    assert new == old
    assert (new_result.created, new_result.unplaced) == (old_result.created, old_result.unplaced)
    assert new_result.created > 500 and new_result.unplaced > 0  # full windows: some left out
    assert len(calls) < 45  # answers were shared between treatment starts
