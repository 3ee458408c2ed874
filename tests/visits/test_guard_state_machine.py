"""A state machine drives a clinic's days on PostgreSQL — booking, check-in, completion with random take-homes at
random instants, pauses, sweeps, resolving holds, approving take-homes — and after every step checks what the
dosing guard promises (API.md v1.1, issue #11):

- never two observed doses of one medication on one date (diamorphine: never more sessions than the plan's);
- never a dose on a date covered by take-homes handed out earlier;
- never an injection before its minimum after the last one;
- never diamorphine sessions closer than the plan's interval, in elapsed time;
- never a dose while a hold, clinician review or re-induction was open;
- never a window over its capacity.
"""

from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import time_machine
from django.db.models import Count
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from notifications import replanning
from scheduler.errors import RuleViolation, StateConflict
from scheduler.timeutil import local_date
from tests.factories import ClinicFactory, PatientFactory, PlanFactory, WindowFactory, make_staff
from visits import services
from visits.generation import visits_generate
from visits.guard import BLOCKING_KINDS, ORAL
from visits.missed import escalation_resolve, visits_mark_missed
from visits.models import Escalation, Visit
from visits.selectors import FREES_ITS_PLACE

pytestmark = [pytest.mark.django_db]

START = datetime(2026, 11, 2, 11, 0, tzinfo=UTC)  # Monday 06:00 in New York
DAYS = 12
SUBLOCADE_MINIMUM = 26  # US federal 2024 preset: 28-day interval, 2 days early (Sublocade label)
DIAMORPHINE_INTERVAL = 180
REFUSED = (RuleViolation, StateConflict)


class ClinicDays(RuleBasedStateMachine):
    # What the guard did over the whole run: a machine that never completes or refuses anything proves nothing.
    outcomes: defaultdict[str, int] = defaultdict(int)

    @initialize()
    def open_the_clinic(self) -> None:
        self.traveller = time_machine.travel(START, tick=False)
        self.clock = self.traveller.start()
        self.now = START
        self.clinic = ClinicFactory(name="State machine clinic", sms_name="Riverside Health")
        weekdays = [0, 1, 2, 3, 4, 5]
        WindowFactory(
            clinic=self.clinic, weekdays=weekdays, start=time(7), end=time(10), services=["methadone"], capacity=3
        )
        WindowFactory(
            clinic=self.clinic, weekdays=weekdays, start=time(13), end=time(15), services=["methadone"], capacity=3
        )
        for start, end in ((time(8), time(10)), (time(14), time(16))):
            WindowFactory(
                clinic=self.clinic, weekdays=list(range(7)), start=start, end=end, services=["diamorphine"], capacity=2
            )
        WindowFactory(
            clinic=self.clinic,
            weekdays=[0, 1, 2, 3, 4],
            start=time(11),
            end=time(13),
            services=["buprenorphine_xr_monthly", "counselling"],
            capacity=3,
        )
        self.desk = make_staff("front_desk", [self.clinic])
        self.nurse = make_staff("nurse", [self.clinic])
        self.clinician = make_staff("clinician", [self.clinic])
        day = START.date()
        self.patients = [PatientFactory(clinic=self.clinic) for _ in range(3)]
        p0, p1, p2 = self.patients
        PlanFactory(
            patient=p0,
            medication="methadone",
            start_date=day,
            treatment_start=day - timedelta(days=60),
            attendance_weekdays=[0, 2, 4],
        )
        # Legacy data from before the one-active-plan rule: a second methadone plan for the same patient.
        PlanFactory(patient=p0, medication="methadone", start_date=day, treatment_start=day - timedelta(days=60))
        PlanFactory(
            patient=p1,
            medication="diamorphine",
            start_date=day,
            doses_per_day=2,
            min_interval_minutes=DIAMORPHINE_INTERVAL,
        )
        PlanFactory(patient=p2, medication="buprenorphine_xr_monthly", start_date=day - timedelta(days=20))
        PlanFactory(
            patient=p2,
            medication="methadone",
            start_date=day,
            treatment_start=day - timedelta(days=200),
            attendance_weekdays=[0, 1, 2, 3, 4],
        )
        visits_generate(clinic_ids=[self.clinic.pk], today=day, horizon_days=DAYS + 2)

    def teardown(self) -> None:
        traveller = getattr(self, "traveller", None)
        if traveller is not None:
            traveller.stop()

    # --- helpers ---------------------------------------------------------------------------------------

    def today(self) -> date:
        return local_date(self.now, self.clinic.timezone)

    def pick(self, data: Any, qs: Any) -> Any:
        ids = list(qs.order_by("id").values_list("id", flat=True)[:40])
        if not ids:
            return None
        return data.draw(st.sampled_from(ids))

    def visits(self) -> Any:
        return Visit.objects.filter(clinic=self.clinic)

    def blocked(self, visit: Visit) -> bool:
        kinds = set(BLOCKING_KINDS) | (
            {"retitration"} if visit.plan and visit.plan.medication == "diamorphine" else set()
        )
        return Escalation.objects.filter(patient_id=visit.patient_id, resolved_at=None, kind__in=kinds).exists()

    # --- what staff and jobs do ------------------------------------------------------------------------

    @rule(minutes=st.integers(min_value=2, max_value=8 * 60))
    def time_passes(self, minutes: int) -> None:
        self.move_to(self.now + timedelta(minutes=minutes))

    @rule(hour=st.sampled_from([12, 13, 14, 19]))
    def next_morning_after_the_sweep(self, hour: int) -> None:
        """The next day at 07:00, 08:00, 09:00 or 14:00 in New York, after last night's missed sweep."""
        self.move_to(datetime.combine(self.now.date() + timedelta(days=1), time(5), tzinfo=UTC))
        visits_mark_missed(now=self.now)
        self.move_to(datetime.combine(self.now.date(), time(hour), tzinfo=UTC))

    def move_to(self, when: datetime) -> None:
        if when <= START + timedelta(days=DAYS):
            self.now = when
            self.clock.move_to(when)

    @rule(
        patient=st.integers(0, 2),
        kind=st.sampled_from(["dose", "dose", "injection"]),
        ahead=st.sampled_from([0, 0, 0, 1, 2, 5]),
    )
    def book(self, patient: int, kind: str, ahead: int) -> None:
        with contextlib.suppress(REFUSED):
            replanning.visit_book(
                patient=self.patients[patient], kind=kind, date=self.today() + timedelta(days=ahead), by=self.desk
            )

    @rule(patient=st.integers(0, 2), kind=st.sampled_from(["dose", "injection"]), take_homes=st.integers(0, 3))
    def walk_in_dosed_at_once(self, patient: int, kind: str, take_homes: int) -> None:
        """A patient walks in; the desk books a visit today and a nurse doses at once (covered dates, second
        doses, holds and injection minimums all meet the guard here)."""
        try:
            visit = replanning.visit_book(patient=self.patients[patient], kind=kind, date=self.today(), by=self.desk)
        except REFUSED as exc:
            ClinicDays.outcomes[_rule_of(exc)] += 1  # the guard refuses a second dose or a covered date at booking
            return
        was_blocked = self.blocked(visit)
        try:
            services.visit_complete(visit=visit, by=self.nurse, take_home_doses=take_homes)
        except REFUSED as exc:
            ClinicDays.outcomes[_rule_of(exc)] += 1
            return
        ClinicDays.outcomes["completed"] += 1
        assert not was_blocked, f"walk-in visit #{visit.pk} was completed while a hold was open"

    @rule(data=st.data(), ahead=st.integers(0, 4))
    def reschedule(self, data: Any, ahead: int) -> None:
        pk = self.pick(data, self.visits().filter(status="scheduled", date__gte=self.today()))
        if pk is None:
            return
        with contextlib.suppress(REFUSED):
            replanning.visit_reschedule(
                visit=Visit.objects.get(pk=pk), date=self.today() + timedelta(days=ahead), by=self.desk
            )

    @rule(data=st.data())
    def check_in(self, data: Any) -> None:
        pk = self.pick(data, self.visits().filter(status="scheduled", date__lte=self.today()))
        if pk is None:
            return
        with contextlib.suppress(REFUSED):
            services.visit_check_in(visit=Visit.objects.get(pk=pk), by=self.desk)

    @rule(
        data=st.data(),
        take_homes=st.one_of(st.just(0), st.integers(0, 9)),
        clinician=st.booleans(),
        reason=st.booleans(),
    )
    def complete(self, data: Any, take_homes: int, clinician: bool, reason: bool) -> None:
        open_visits = self.visits().filter(
            status__in=("scheduled", "checked_in"), date__lte=self.today(), kind__in=("dose", "injection")
        )
        todays = open_visits.filter(date=self.today())
        pk = self.pick(data, todays if todays.exists() and data.draw(st.booleans()) else open_visits)
        if pk is None:
            return
        visit = Visit.objects.select_related("plan", "clinic", "patient").get(pk=pk)
        was_blocked = self.blocked(visit)
        try:
            services.visit_complete(
                visit=visit,
                by=self.clinician if clinician else self.nurse,
                take_home_doses=take_homes,
                take_home_reason="prescriber agreed" if reason else "",
            )
        except REFUSED as exc:
            ClinicDays.outcomes[_rule_of(exc)] += 1
            return
        ClinicDays.outcomes["completed with take-homes" if take_homes else "completed"] += 1
        assert not was_blocked, f"visit #{pk} was completed while a hold was open"

    @rule(
        patient=st.integers(0, 2),
        ahead=st.integers(0, 4),
        length=st.integers(0, 3),
        reason=st.sampled_from(["guest_dosing", "hospital"]),
    )
    def pause(self, patient: int, ahead: int, length: int, reason: str) -> None:
        plan = self.patients[patient].plans.order_by("id").first()
        start = self.today() + timedelta(days=ahead)
        with contextlib.suppress(REFUSED):
            replanning.pause_create(
                plan=plan, start=start, end=start + timedelta(days=length), reason=reason, actor=self.desk
            )

    @rule()
    def sweep(self) -> None:
        visits_mark_missed(now=self.now)

    @rule(data=st.data())
    def resolve(self, data: Any) -> None:
        pk = self.pick(data, Escalation.objects.filter(clinic=self.clinic, resolved_at=None))
        if pk is not None:
            escalation_resolve(escalation=Escalation.objects.get(pk=pk), by=self.clinician, note="seen")

    @rule(patient=st.integers(0, 2))
    def approve_take_homes(self, patient: int) -> None:
        for plan in self.patients[patient].plans.filter(takehome_approved=False):
            replanning.plan_takehome_review(plan=plan, by=self.clinician, approved=True, note="stable")

    # --- what must always hold -------------------------------------------------------------------------

    def completed(self) -> Any:
        return self.visits().filter(status="completed", kind__in=("dose", "injection"))

    @invariant()
    def never_two_observed_doses_of_one_medication_on_one_date(self) -> None:
        if not hasattr(self, "clinic"):
            return
        rows = self.completed().values("patient_id", "plan__medication", "date").annotate(n=Count("id")).filter(n__gt=1)
        for row in rows:
            limit = 2 if row["plan__medication"] == "diamorphine" else 1
            assert row["n"] <= limit, row

    @invariant()
    def never_a_dose_on_a_covered_date(self) -> None:
        if not hasattr(self, "clinic"):
            return
        doses = list(
            self.completed()
            .filter(plan__medication__in=ORAL)
            .values_list("patient_id", "plan__medication", "date", "covered_through")
        )
        for patient, medication, day, through in doses:
            for other_patient, other_medication, other_day, _ in doses:
                if (other_patient, other_medication) == (patient, medication) and through is not None:
                    assert not day < other_day <= through, (patient, medication, day, through, other_day)

    @invariant()
    def never_an_injection_before_its_minimum(self) -> None:
        if not hasattr(self, "clinic"):
            return
        days: dict[int, list[date]] = defaultdict(list)
        for patient, day in (
            self.completed().filter(kind="injection").order_by("date").values_list("patient_id", "date")
        ):
            days[patient].append(day)
        for dates in days.values():
            assert all((b - a).days >= SUBLOCADE_MINIMUM for a, b in zip(dates, dates[1:], strict=False)), dates

    @invariant()
    def never_diamorphine_sessions_closer_than_the_interval(self) -> None:
        if not hasattr(self, "clinic"):
            return
        instants = list(
            self.completed()
            .filter(plan__medication="diamorphine")
            .order_by("completed_at")
            .values_list("completed_at", flat=True)
        )
        gaps = [b - a for a, b in zip(instants, instants[1:], strict=False)]
        assert all(gap >= timedelta(minutes=DIAMORPHINE_INTERVAL) for gap in gaps), gaps

    @invariant()
    def never_a_window_over_capacity(self) -> None:
        if not hasattr(self, "clinic"):
            return
        rows = (
            self.visits()
            .exclude(status__in=FREES_ITS_PLACE)
            .exclude(window=None)
            .values("window_id", "window__capacity", "date")
            .annotate(n=Count("id"))
        )
        for row in rows:
            assert row["n"] <= row["window__capacity"], row


def _rule_of(exc: Exception) -> str:
    text = str(exc)
    for words in (
        "plan on hold",
        "covered by take-homes",
        "already given",
        "between injections",
        "between sessions",
        "calendar expects",
        "take-home dose",
        "never taken home",
    ):
        if words in text:
            return words
    return "other refusal"


def test_the_dosing_guard_holds_through_random_clinic_days():
    ClinicDays.outcomes.clear()
    run_state_machine_as_test(
        ClinicDays,
        settings=settings(
            max_examples=int(os.environ.get("GUARD_MACHINE_EXAMPLES", "40")),
            stateful_step_count=50,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    seen = ClinicDays.outcomes
    assert seen["completed"] + seen["completed with take-homes"] > 0, dict(seen)
    assert seen["plan on hold"] > 0, dict(seen)
    assert seen["already given"] + seen["covered by take-homes"] + seen["calendar expects"] > 0, dict(seen)
