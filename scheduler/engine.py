"""The attendance engine: a plan + a clinic calendar + a rule set -> one expected Day per local date.

Pure code, no ORM: it takes plain values and returns plain values (STYLE.md "Pure domain code").
Every answer is simulated from the plan's start date, so asking for any sub-range gives the same
days as slicing the answer for a larger range.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import NamedTuple

from scheduler.rules import INJECTIONS, MEDICATIONS, Rules, TakeHomeLimit, takehome_limit, treatment_day
from scheduler.timeutil import NonexistentLocalTime, utc_instant, zone

__all__ = [
    "DIAMORPHINE",
    "INJECTIONS",
    "MEDICATIONS",
    "ORAL_DAILY",
    "VISIT_KINDS",
    "Calendar",
    "Closure",
    "Day",
    "Pause",
    "PlanNotSatisfiable",
    "PlanSpec",
    "SplitNotSatisfiable",
    "Session",
    "TreatmentStartReads",
    "Window",
    "check_plan",
    "covered_through",
    "dose_every_days",
    "plan_days",
    "plan_days_read",
    "takehome_breaches",
    "uncovered_by_closure",
]

_Date = date

ORAL_DAILY = frozenset({"methadone", "buprenorphine"})
DIAMORPHINE = "diamorphine"
VISIT_KINDS = frozenset({"counselling", "assessment", "callback"})

VISIT, TAKE_HOME, CLOSURE_TAKE_HOME, NONE = "visit", "take_home", "closure_take_home", "none"
_TAKE_HOME_KINDS = frozenset({TAKE_HOME, CLOSURE_TAKE_HOME})
# Issue #15: alternate-day buprenorphine (DOMAIN §1: a double dose every 48 h once stable). The day after a dose
# is covered by the double dose: neither a visit nor a take-home. Internal mark only; such a Day is "none".
_COVERED = "covered"
# Sublingual buprenorphine's `interval_days`: 1 (or none) daily, 2 alternate-day.
BUPRENORPHINE_DOSE_INTERVALS = (1, 2)

# DOMAIN §1: a diamorphine session occupies an injection booth for about 30 minutes, so a session
# needs 30 minutes before its window closes and two sessions of one patient never start closer than that.
SESSION_MINUTES = 30
# A take-home run is followed past the asked range to count the last visit's supply. A plan whose
# pattern never brings the patient back (only possible without a take-home limit, e.g. buprenorphine
# with no open attendance day) reports at most this many take-home doses, counted from the visit so
# that every range gives the same answer.
_MAX_SUPPLY_DAYS = 366
_CLOSURE_BLOCK_MAX = 62
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DAY = timedelta(days=1)


# --- calendar -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    id: int | None
    weekdays: frozenset[int]
    start: time
    end: time
    services: frozenset[str]
    capacity: int | None = None

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError(f"window {_span(self.start, self.end)}: must end after it starts (same day)")
        if not set(self.weekdays) <= set(range(7)):
            raise ValueError(f"window {_span(self.start, self.end)}: weekdays must be 0 (Monday) .. 6 (Sunday)")


@dataclass(frozen=True)
class Closure:
    date: date
    services: frozenset[str] = frozenset()
    reason: str = ""

    def closes(self, service: str) -> bool:
        return not self.services or service in self.services

    @property
    def text(self) -> str:
        return f"closed: {self.reason}" if self.reason else "closed"


@dataclass(frozen=True)
class Calendar:
    tz: str
    windows: tuple[Window, ...]
    closures: tuple[Closure, ...] = ()

    @cached_property
    def _closures_by_date(self) -> dict[date, list[Closure]]:
        by_date: dict[date, list[Closure]] = {}
        for closure in self.closures:
            by_date.setdefault(closure.date, []).append(closure)
        return by_date

    @cached_property
    def _windows_by_weekday(self) -> tuple[tuple[Window, ...], ...]:
        ordered = sorted(self.windows, key=lambda w: (w.start, w.end, w.id or 0))
        return tuple(tuple(w for w in ordered if wd in w.weekdays) for wd in range(7))

    # Memos of answers that depend only on this calendar, never on a plan: every plan of a clinic asks about
    # the same dates. Calendars are built per job run (selectors.ClinicCalendars) or per request, so these
    # stay small.

    @cached_property
    def _spans(self) -> dict[tuple[date, str], tuple[tuple[tuple[datetime, datetime, Window], ...], str]]:
        """_window_spans answers."""
        return {}

    @cached_property
    def _first_sessions(self) -> dict[tuple[date, str], tuple[tuple[Session, ...], str]]:
        """_first_window_session answers (Session is frozen, so one instance can serve every plan)."""
        return {}

    @cached_property
    def _closed_reasons(self) -> dict[tuple[date, str], str | None]:
        """closed_reason answers."""
        return {}

    def closure_on(self, d: date, service: str) -> Closure | None:
        for closure in self._closures_by_date.get(d, ()):
            if closure.closes(service):
                return closure
        return None

    def weekday_windows(self, weekday: int, service: str) -> list[Window]:
        """Windows offering `service` on a weekday, sorted by start, ignoring closures."""
        return [w for w in self._windows_by_weekday[weekday] if service in w.services]

    def windows_for(self, d: date, service: str) -> list[Window]:
        if self.closure_on(d, service) is not None:
            return []
        return self.weekday_windows(d.weekday(), service)

    def is_open(self, d: date, service: str) -> bool:
        return bool(self.windows_for(d, service))

    def closed_reason(self, d: date, service: str) -> str | None:
        """Why `service` is not offered on `d`, or None if it is."""
        key = (d, service)
        reasons = self._closed_reasons
        if key in reasons:
            return reasons[key]
        reason = reasons[key] = self._closed_reason(d, service)
        return reason

    def _closed_reason(self, d: date, service: str) -> str | None:
        closure = self.closure_on(d, service)
        if closure is not None:
            return closure.text
        if not self.weekday_windows(d.weekday(), service):
            return f"no window offers {service} on {_WEEKDAYS[d.weekday()]}s"
        return None


# --- plans and answers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pause:
    start: date
    end: date
    reason: str


@dataclass(frozen=True)
class PlanSpec:
    medication: str
    start_date: date
    treatment_start: date | None = None
    end_date: date | None = None
    doses_per_day: int = 1
    min_interval_minutes: int = 0
    interval_days: int | None = None
    attendance_weekdays: frozenset[int] = frozenset(range(7))
    attendance_every_weeks: int = 1
    pauses: tuple[Pause, ...] = ()
    last_injection_date: date | None = None
    # API.md v1.1: while a hold (or review, re-induction) has suspended earned take-homes, take-home days
    # on or after this date are visit days; closure take-homes stay.
    takehome_suspended_from: date | None = None
    # Issue #14: naltrexone's first injection no earlier than the rule set's opioid-free days after the last opioid
    # dose (or take-home) given here; the caller works it out from the ledger (visits.selectors).
    first_injection_from: date | None = None


@dataclass(frozen=True)
class Session:
    start: datetime
    end: datetime
    window_id: int | None


@dataclass(frozen=True)
class Day:
    date: date
    expected: str
    sessions: tuple[Session, ...]
    reason: str
    take_home_doses: int = 0
    # `date` is shadowed by the field above inside this class body, hence the alias.
    target_date: _Date | None = None
    earliest: _Date | None = None
    latest: _Date | None = None
    pause_reason: str | None = None
    # Issue #15: alternate-day dosing: the dose date whose double dose covers this day (expected "none").
    covered_by: _Date | None = None


class PlanNotSatisfiable(ValueError):
    """The plan cannot be scheduled; the message is the reason, shown to users."""


class SplitNotSatisfiable(PlanNotSatisfiable):
    """A methadone split dose's two sessions do not fit the clinic's windows (a fault of doses_per_day)."""


# --- shared helpers -----------------------------------------------------------------------------------


def _span(start: time, end: time) -> str:
    return f"{start.strftime('%H:%M')}–{end.strftime('%H:%M')}"


def _dates(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _pause_on(plan: PlanSpec, d: date) -> Pause | None:
    for pause in plan.pauses:
        if pause.start <= d <= pause.end:
            return pause
    return None


def _after_end(plan: PlanSpec, d: date) -> bool:
    return plan.end_date is not None and d > plan.end_date


def _outside_day(plan: PlanSpec, d: date) -> Day | None:
    """The Day for a date outside the plan's active dates (before start, after end, paused), else None."""
    if d < plan.start_date:
        return Day(d, NONE, (), "before start")
    if _after_end(plan, d):
        return Day(d, NONE, (), "after end")
    pause = _pause_on(plan, d)
    if pause is not None:
        return Day(d, NONE, (), f"paused: {pause.reason}", pause_reason=pause.reason)
    return None


def _window_spans(calendar: Calendar, d: date, service: str) -> tuple[list[tuple[datetime, datetime, Window]], str]:
    """UTC instants of each window offering `service` on `d`; windows in a DST gap are skipped and named."""
    cached = calendar._spans.get((d, service))
    if cached is None:
        found, notes = _compute_window_spans(calendar, d, service)
        cached = calendar._spans[(d, service)] = (tuple(found), notes)
    return list(cached[0]), cached[1]


def _compute_window_spans(
    calendar: Calendar, d: date, service: str
) -> tuple[list[tuple[datetime, datetime, Window]], str]:
    spans: list[tuple[datetime, datetime, Window]] = []
    notes: list[str] = []
    tz = zone(calendar.tz)
    for window in calendar.windows_for(d, service):
        try:
            start, end = utc_instant(d, window.start, tz), utc_instant(d, window.end, tz)
        except NonexistentLocalTime:
            # DOMAIN §6: a wall time that does not exist is reported, never silently shifted.
            span = _span(window.start, window.end)
            notes.append(f"window {span} does not exist on {d.isoformat()} in {calendar.tz} (daylight-saving gap)")
            continue
        spans.append((start, end, window))
    return spans, "".join(f"; {note}" for note in notes)


def _first_window_session(calendar: Calendar, d: date, service: str) -> tuple[tuple[Session, ...], str]:
    cached = calendar._first_sessions.get((d, service))
    if cached is None:
        spans, notes = _window_spans(calendar, d, service)
        sessions = (Session(spans[0][0], spans[0][1], spans[0][2].id),) if spans else ()
        cached = calendar._first_sessions[(d, service)] = (sessions, notes)
    return cached


# --- oral daily: methadone, sublingual buprenorphine -------------------------------------------------


class _Mark(NamedTuple):
    kind: str
    reason: str
    pause_reason: str | None = None
    covered_by: date | None = None


@dataclass
class _Supply:
    """What the oral simulation remembers: the current take-home supply and this ISO week's count."""

    visit_day: int | None = None  # treatment day of the last visit; None: nothing handed out yet
    visit_date: date | None = None  # the date of that visit
    limit: TakeHomeLimit | None = None  # looked up only when a take-home day needs it
    counted: int = 0
    after_pause: bool = False
    week: tuple[int, int] = (0, 0)
    week_count: int = 0


def _iso_week(d: date) -> tuple[int, int]:
    iso = d.isocalendar()
    return iso.year, iso.week


class _Oral:
    """Day-by-day simulation of one oral daily plan from its start date."""

    def __init__(self, plan: PlanSpec, calendar: Calendar, rules: Rules) -> None:
        self.plan, self.calendar, self.rules = plan, calendar, rules
        self.treatment_start = plan.treatment_start or plan.start_date
        self.supply = _Supply()
        # Alternate-day plans: days between doses (1 daily, 2 alternate-day), and the last dose date (a visit or a
        # take-home) from which the next dose date counts; None until the first dose (and again after a pause).
        self.every = dose_every_days(plan.medication, plan.interval_days)
        self._last_dose: date | None = None
        # Attendance weeks count from the Monday of the start date's week.
        self._first_monday = plan.start_date - timedelta(days=plan.start_date.weekday())
        # What the simulation read of the treatment start (see TreatmentStartReads): it reaches the answer only
        # through the take-home limits looked up (_limit), and through a limit's text when a visit is forced.
        self.limits_read: list[tuple[date | None, int | None, int | None]] = []
        self.limit_named = False

    def marks(self, until: date) -> list[_Mark]:
        """Marks from start_date on, past `until` until the last take-home run there has ended."""
        marks: list[_Mark] = []
        d, last_visit = self.plan.start_date, self.plan.start_date
        end = self.plan.end_date
        while end is None or d <= end:  # not _after_end(plan, d)
            mark = self.mark(d)
            marks.append(mark)
            last_visit = d if mark.kind == VISIT else last_visit
            running = mark.kind in _TAKE_HOME_KINDS or mark.kind == _COVERED
            if d > until and (not running or (d - last_visit).days > _MAX_SUPPLY_DAYS):
                break
            d += _DAY
        return marks

    def mark(self, d: date) -> _Mark:
        pause = _pause_on(self.plan, d) if self.plan.pauses else None
        if pause is not None:
            # A paused date is neither attended nor taken home; counting restarts after it.
            self.supply.visit_day, self.supply.after_pause = None, True
            self._last_dose = None
            return _Mark(NONE, f"paused: {pause.reason}", pause.reason)
        if self.every > 1:
            covered = self._covered(d)
            if covered is not None:
                return covered
        mark = self._dose_day(d)
        if mark.kind != NONE:
            self._last_dose = d
        return mark

    def _covered(self, d: date) -> _Mark | None:
        """Alternate-day: the days after a dose date that its double dose covers (DOMAIN §1)."""
        last = self._last_dose
        if last is None or (d - last).days >= self.every:
            return None
        return _Mark(_COVERED, f"covered by the double dose of {last.isoformat()} (alternate-day dosing)", None, last)

    def _dose_day(self, d: date) -> _Mark:
        closed = self.calendar.closed_reason(d, self.plan.medication)
        if self.supply.visit_day is None:
            return self._first_visit(d, closed)
        if closed is not None:
            self._count(d, closure=True)
            return _Mark(CLOSURE_TAKE_HOME, closed)
        if self._attends(d):
            return self._visit(d, "attendance day")
        suspended = self.plan.takehome_suspended_from
        if suspended is not None and d >= suspended:
            return self._visit(d, "take-homes suspended until a clinician approves them again")
        breach = self._breach(d)
        if breach is not None:
            return self._visit(d, breach)
        self._count(d, closure=False)
        return _Mark(TAKE_HOME, "take-home day")

    def _attends(self, d: date) -> bool:
        if d.weekday() not in self.plan.attendance_weekdays:
            return False
        return ((d - self._first_monday).days // 7) % self.plan.attendance_every_weeks == 0

    def _first_visit(self, d: date, closed: str | None) -> _Mark:
        what = "after pause" if self.supply.after_pause else "of treatment"
        if closed is not None:
            return _Mark(NONE, f"no dose planned before the first open day {what} ({closed})")
        first = "first day of treatment" if d == self.plan.start_date else f"first open day {what}"
        return self._visit(d, first)

    def _visit(self, d: date, reason: str) -> _Mark:
        self.supply.visit_day, self.supply.limit = treatment_day(self.treatment_start, d), None
        self.supply.visit_date = d
        self.supply.counted, self.supply.after_pause = 0, False
        return _Mark(VISIT, reason)

    def _count(self, d: date, closure: bool) -> None:
        if closure and not self.rules.closure_doses_count:
            return  # 42 CFR 8.12(i)(3) (2001): limits are "beyond" closure doses
        self.supply.counted += 1
        week = _iso_week(d)
        if week != self.supply.week:
            self.supply.week, self.supply.week_count = week, 0
        self.supply.week_count += 1

    def _closure_block(self, d: date) -> list[date]:
        """The closure days right after `d` that the supply handed out before them must also cover."""
        block: list[date] = []
        e = d + _DAY
        while len(block) < _CLOSURE_BLOCK_MAX and not _after_end(self.plan, e) and _pause_on(self.plan, e) is None:
            if self.calendar.closed_reason(e, self.plan.medication) is None:
                break
            block.append(e)
            e += _DAY
        return block

    def _limit(self) -> TakeHomeLimit:
        if self.supply.limit is None:
            day = self.supply.visit_day if self.supply.visit_day is not None else 1
            limit = self.supply.limit = takehome_limit(self.rules, self.plan.medication, day)
            visit_date = self.supply.visit_date if self.supply.visit_day is not None else None
            self.limits_read.append((visit_date, limit.max_supply, limit.max_per_week))
        return self.supply.limit

    def _breach(self, d: date) -> str | None:
        """The limit text if taking `d` home (plus the closures that follow) breaks the supply limit."""
        limit = self._limit()
        if limit.max_supply is None and limit.max_per_week is None:
            return None
        # Look ahead over the closures after d: if they would push the supply over, the patient must
        # come on d so that d's visit hands them out (Sunday + Monday holiday -> 2 doses on Saturday).
        days = [d, *self._closure_block(d)] if self.rules.closure_doses_count else [d]
        if limit.max_supply is not None and self.supply.counted + len(days) > limit.max_supply:
            return self._limit_text(limit)
        if limit.max_per_week is not None:
            week, count = self.supply.week, self.supply.week_count
            for e in days:
                week, count = (week, count + 1) if _iso_week(e) == week else (_iso_week(e), 1)
                if count > limit.max_per_week:
                    return self._limit_text(limit)
        return None

    def _limit_text(self, limit: TakeHomeLimit) -> str:
        self.limit_named = True  # the text names the visit's treatment day
        return _limit_text(limit)


def _limit_text(limit: TakeHomeLimit) -> str:
    return f"take-home limit: {limit.rule} (supply from the visit on treatment day {limit.treatment_day})"


def _oral_days(
    plan: PlanSpec, calendar: Calendar, rules: Rules, date_from: date, date_to: date
) -> tuple[list[Day], TreatmentStartReads]:
    oral = _Oral(plan, calendar, rules)
    marks = oral.marks(date_to) if date_to >= plan.start_date else []
    reads = TreatmentStartReads(oral.limit_named, tuple(oral.limits_read))
    supplies = _following_take_homes(marks)
    days: list[Day] = []
    for d in _dates(date_from, date_to):
        i = (d - plan.start_date).days
        if i < 0 or i >= len(marks):
            days.append(_outside_day(plan, d) or Day(d, NONE, (), "after end"))
            continue
        kind, reason, pause_reason, covered_by = marks[i]
        if kind == _COVERED:
            days.append(Day(d, NONE, (), reason, covered_by=covered_by))
            continue
        if kind != VISIT:
            days.append(Day(d, kind, (), reason, pause_reason=pause_reason))
            continue
        if plan.doses_per_day > 1:
            sessions, notes = _split_sessions(plan, calendar, d)
        else:
            sessions, notes = _first_window_session(calendar, d, plan.medication)
        days.append(Day(d, VISIT, sessions, reason + notes, take_home_doses=min(supplies[i], _MAX_SUPPLY_DAYS)))
    return days, reads


# Issue #14: a methadone split dose is two sessions a visit day, each at the start of a window, the second at least
# the plan's interval (never under SESSION_MINUTES) after the first; the order is the daily total, shared out.
SPLIT_MEDICATIONS = frozenset({"methadone"})


def _split_interval(plan: PlanSpec) -> timedelta:
    return timedelta(minutes=max(plan.min_interval_minutes, SESSION_MINUTES))


def _split_pick(starts: list[datetime], interval: timedelta) -> list[int]:
    """Indexes of the windows the two sessions use: the first window, then the first one far enough after it."""
    if not starts:
        return []
    second = next((i for i in range(1, len(starts)) if starts[i] >= starts[0] + interval), None)
    return [0] if second is None else [0, second]


def _split_sessions(plan: PlanSpec, calendar: Calendar, d: date) -> tuple[tuple[Session, ...], str]:
    spans, notes = _window_spans(calendar, d, plan.medication)
    picked = _split_pick([s for s, _, _ in spans], _split_interval(plan))
    if spans and len(picked) < plan.doses_per_day:
        minutes = int(_split_interval(plan).total_seconds() // 60)
        notes += f"; only 1 of 2 split-dose sessions fits the windows (at least {minutes} minutes apart)"
    return tuple(Session(spans[i][0], spans[i][1], spans[i][2].id) for i in picked), notes


def _split_fit_failures(plan: PlanSpec, calendar: Calendar) -> list[str]:
    failures: list[str] = []
    for weekday in sorted(plan.attendance_weekdays):
        windows = calendar.weekday_windows(weekday, plan.medication)
        if not windows:
            continue  # no window that weekday: a closure day, taken home like any other
        ref = date(2001, 1, 1 + weekday)
        starts = sorted(datetime.combine(ref, w.start) for w in windows)
        if len(_split_pick(starts, _split_interval(plan))) < 2:
            hours = ", ".join(_span(w.start, w.end) for w in windows)
            failures.append(f"{_WEEKDAYS[weekday]} ({hours})")
    return failures


def _following_take_homes(marks: list[_Mark]) -> list[int]:
    """For each index, how many take-home days follow it without a break (a visit's supply). Days covered by an
    alternate-day double dose neither count nor break the run."""
    counts = [0] * len(marks)
    following = 0
    for i in range(len(marks) - 1, -1, -1):
        counts[i] = following
        if marks[i].kind == _COVERED:
            continue
        following = following + 1 if marks[i].kind in _TAKE_HOME_KINDS else 0
    return counts


def dose_every_days(medication: str, interval_days: int | None) -> int:
    """Days one oral dose covers: 2 for alternate-day buprenorphine (a double dose every 48 h), else 1."""
    if medication == "buprenorphine" and interval_days:
        return interval_days
    return 1


def covered_through(medication: str, interval_days: int | None, visit_date: date, take_home_doses: int) -> date:
    """The last date a completed oral visit covers: its own dose and the take-homes handed out with it. An
    alternate-day dose covers its own day and the next one, and so does each take-home (double) dose."""
    return visit_date + timedelta(days=dose_every_days(medication, interval_days) * (take_home_doses + 1) - 1)


# --- diamorphine: supervised sessions every day ------------------------------------------------------


def _diamorphine_interval(plan: PlanSpec, rules: Rules) -> int:
    # The rule set's interval is a floor (Diaphin label: 30 min); a plan may ask for more (often 3 h).
    return max(plan.min_interval_minutes, rules.diamorphine_min_interval_minutes, SESSION_MINUTES)


def _fit_sessions(
    spans: list[tuple[datetime, datetime, int | None]], interval_minutes: int, wanted: int
) -> list[Session]:
    """Greedy earliest sessions: each at least `interval` after the previous and 30 min before its window ends."""
    interval, length = timedelta(minutes=interval_minutes), timedelta(minutes=SESSION_MINUTES)
    sessions: list[Session] = []
    for start, end, window_id in spans:
        candidate = start if not sessions else max(start, sessions[-1].start + interval)
        while len(sessions) < wanted and candidate + length <= end:
            sessions.append(Session(candidate, end, window_id))
            candidate += interval
    return sessions


def _diamorphine_day(plan: PlanSpec, calendar: Calendar, rules: Rules, d: date) -> Day:
    outside = _outside_day(plan, d)
    if outside is not None:
        return outside
    closure = calendar.closure_on(d, DIAMORPHINE)
    if closure is not None:
        return Day(d, NONE, (), closure.text)
    spans, notes = _window_spans(calendar, d, DIAMORPHINE)
    interval = _diamorphine_interval(plan, rules)
    # Instants are UTC, so the interval is elapsed time even across a DST change (DOMAIN §6).
    sessions = _fit_sessions([(s, e, w.id) for s, e, w in spans], interval, plan.doses_per_day)
    reason = "supervised sessions"
    if len(sessions) < plan.doses_per_day:
        reason = (
            f"only {len(sessions)} of {plan.doses_per_day} sessions at least {interval} minutes apart "
            f"fit the windows on {d.isoformat()}"
        )
    return Day(d, VISIT, tuple(sessions), reason + notes)


def _weekday_fit_failures(plan: PlanSpec, calendar: Calendar, rules: Rules) -> list[str]:
    interval = _diamorphine_interval(plan, rules)
    failures: list[str] = []
    for weekday in range(7):
        windows = calendar.weekday_windows(weekday, DIAMORPHINE)
        # Wall-clock arithmetic on a neutral date: "a typical <weekday>", ignoring closures and DST.
        ref = date(2001, 1, 1 + weekday)
        spans = [(datetime.combine(ref, w.start), datetime.combine(ref, w.end), w.id) for w in windows]
        if len(_fit_sessions(spans, interval, plan.doses_per_day)) < plan.doses_per_day:
            hours = ", ".join(_span(w.start, w.end) for w in windows) or "no windows"
            failures.append(f"{_WEEKDAYS[weekday]} ({hours})")
    return failures


# --- injections: naltrexone XR, buprenorphine XR monthly / weekly ------------------------------------


class _Injection(NamedTuple):
    kind: str  # VISIT, or NONE when no open day exists in the allowed window
    reason: str
    target: date
    earliest: date
    latest: date


def _injection_interval(plan: PlanSpec, rules: Rules) -> tuple[int, int, int]:
    window = rules.injection_windows[plan.medication]
    return plan.interval_days or window.interval_days, window.early_days, window.late_days


def _injection_available(plan: PlanSpec, calendar: Calendar, d: date) -> str | None:
    """Why an injection cannot be given on `d`, or None if it can."""
    pause = _pause_on(plan, d)
    if pause is not None:
        return f"paused: {pause.reason}"
    return calendar.closed_reason(d, plan.medication)


def _place_injection(
    plan: PlanSpec, calendar: Calendar, target: date, lower: date, upper: date
) -> tuple[date | None, str | None]:
    """The nearest available date to `target` in [lower, upper] (earlier wins a tie), and why target was not."""
    why = _injection_available(plan, calendar, target) if lower <= target <= upper else "outside the plan"
    if why is None:
        return target, None
    for k in range(1, max((target - lower).days, (upper - target).days) + 1):
        for candidate in (target - timedelta(days=k), target + timedelta(days=k)):
            if lower <= candidate <= upper and _injection_available(plan, calendar, candidate) is None:
                return candidate, why
    return None, why


def _injections(plan: PlanSpec, calendar: Calendar, rules: Rules, until: date) -> dict[date, _Injection]:
    interval, early, late = _injection_interval(plan, rules)
    target, previous = plan.start_date, plan.last_injection_date
    if previous is None and plan.first_injection_from is not None:
        target = max(target, plan.first_injection_from)
    if previous is not None and previous + timedelta(days=interval) >= plan.start_date:
        target = previous + timedelta(days=interval)
    planned: dict[date, _Injection] = {}
    while target - timedelta(days=early) <= until and not _after_end(plan, target):
        lower = max(target - timedelta(days=early), plan.start_date)
        if previous is not None:
            # Sublocade label: at least 26 days between doses, i.e. never before previous + (interval - early).
            lower = max(lower, previous + timedelta(days=interval - early))
        elif plan.first_injection_from is not None:
            lower = max(lower, plan.first_injection_from)  # issue #14: opioid-free days first
        latest = target + timedelta(days=late)
        upper = min(latest, plan.end_date) if plan.end_date else latest
        chosen, why = _place_injection(plan, calendar, target, lower, upper)
        allowed = f"injection due {target.isoformat()}, allowed {lower.isoformat()}..{latest.isoformat()}"
        if chosen is None:
            reason = f"no open day in the allowed window: {allowed} ({why})"
            planned[target] = _Injection(NONE, reason, target, lower, latest)
            previous = target
        else:
            moved = f"; moved from {target.isoformat()} ({why})" if why else ""
            planned[chosen] = _Injection(VISIT, allowed + moved, target, lower, latest)
            previous = chosen
        target = previous + timedelta(days=interval)
    return planned


def _injection_day(plan: PlanSpec, calendar: Calendar, d: date, injection: _Injection, outside: Day | None) -> Day:
    window = (injection.target, injection.earliest, injection.latest)
    if injection.kind == NONE:
        # A missing injection due inside a pause keeps the pause and says why nothing is planned.
        reason = f"{outside.reason}; {injection.reason}" if outside else injection.reason
        pause_reason = outside.pause_reason if outside else None
        return Day(d, NONE, (), reason, 0, *window, pause_reason=pause_reason)
    sessions, notes = _first_window_session(calendar, d, plan.medication)
    return Day(d, VISIT, sessions, injection.reason + notes, 0, *window)


def _injection_days(plan: PlanSpec, calendar: Calendar, rules: Rules, date_from: date, date_to: date) -> list[Day]:
    planned = _injections(plan, calendar, rules, date_to)
    days: list[Day] = []
    for d in _dates(date_from, date_to):
        outside, injection = _outside_day(plan, d), planned.get(d)
        if injection is None:
            days.append(outside or Day(d, NONE, (), "between injections"))
        else:
            days.append(_injection_day(plan, calendar, d, injection, outside))
    return days


# --- public entry points ------------------------------------------------------------------------------


def _validate(plan: PlanSpec, rules: Rules) -> None:
    """Shape errors that make a plan meaningless; raised as PlanNotSatisfiable for the user."""
    med = plan.medication
    if med not in MEDICATIONS:
        raise PlanNotSatisfiable(f"unknown medication {med!r} (one of {', '.join(MEDICATIONS)})")
    if plan.end_date is not None and plan.end_date < plan.start_date:
        raise PlanNotSatisfiable(f"the plan ends ({plan.end_date}) before it starts ({plan.start_date})")
    # DOMAIN §1: diamorphine 1, 2 or 3 sessions a day (RIOTT twice daily, Canada up to 3); others once.
    if med == DIAMORPHINE and not 1 <= plan.doses_per_day <= 3:
        raise PlanNotSatisfiable(f"diamorphine needs 1 to 3 sessions a day, got {plan.doses_per_day}")
    if med in SPLIT_MEDICATIONS and not 1 <= plan.doses_per_day <= 2:
        raise PlanNotSatisfiable(f"a {med} split dose is 2 sessions a day, got {plan.doses_per_day}")
    if med != DIAMORPHINE and med not in SPLIT_MEDICATIONS and plan.doses_per_day != 1:
        raise PlanNotSatisfiable(f"{med} is given once a day, got {plan.doses_per_day} doses a day")
    if plan.min_interval_minutes < 0:
        raise PlanNotSatisfiable("the minimum interval between sessions cannot be negative")
    if plan.attendance_every_weeks < 1:
        raise PlanNotSatisfiable("attendance_every_weeks must be at least 1")
    if not set(plan.attendance_weekdays) <= set(range(7)):
        raise PlanNotSatisfiable("attendance weekdays must be 0 (Monday) .. 6 (Sunday)")
    if med == "buprenorphine" and plan.interval_days not in (None, *BUPRENORPHINE_DOSE_INTERVALS):
        raise PlanNotSatisfiable(
            f"sublingual buprenorphine is given daily (interval 1) or on alternate days (interval 2: a double dose "
            f"every 48 hours), not every {plan.interval_days} days"
        )
    if med in ORAL_DAILY and med != "buprenorphine" and plan.interval_days is not None:
        raise PlanNotSatisfiable(f"{med} is given every day: an interval between doses is for injections")
    if med in ORAL_DAILY and not plan.attendance_weekdays:
        raise PlanNotSatisfiable(f"a {med} plan needs at least one attendance weekday")
    for pause in plan.pauses:
        if pause.end < pause.start:
            raise PlanNotSatisfiable(f"the {pause.reason} pause ends ({pause.end}) before it starts ({pause.start})")
    if med in INJECTIONS:
        _validate_injection(plan, rules)


def _validate_injection(plan: PlanSpec, rules: Rules) -> None:
    window = rules.injection_windows.get(plan.medication)
    if window is None:
        raise PlanNotSatisfiable(f"rule set {rules.name!r} has no injection window for {plan.medication}")
    if plan.interval_days is not None and plan.interval_days <= window.early_days:
        raise PlanNotSatisfiable(
            f"an interval of {plan.interval_days} days is not longer than the {window.early_days} days "
            f"an injection may come early"
        )


def plan_days(plan: PlanSpec, calendar: Calendar, rules: Rules, date_from: date, date_to: date) -> list[Day]:
    """Exactly one Day per date in [date_from, date_to] (empty if date_to < date_from)."""
    return plan_days_read(plan, calendar, rules, date_from, date_to)[0]


class TreatmentStartReads(NamedTuple):
    """What plan_days read of the plan's treatment start, so that its answer can serve a plan that differs only there.

    The treatment start reaches the answer only through the oral take-home limits (42 CFR 8.12(i)(3) tiers by time
    in treatment): each visit that hands out take-homes looks up the limit of its treatment day (`limits`: the visit's
    date, or None for treatment day 1 whatever the start, and the limit's numbers), and a visit forced by the limit
    gives the limit's text as its reason, which names the treatment day (`named`). Everything else the simulation
    does is the same whatever the treatment start, so with the same other inputs a plan whose treatment start gives
    the same numbers at every one of those visits takes exactly the same steps and gets exactly the same days.
    """

    named: bool
    limits: tuple[tuple[date | None, int | None, int | None], ...] = ()

    def hold_for(self, plan: PlanSpec, rules: Rules) -> bool:
        """True if `plan` (equal but for its treatment start to the plan read) gets exactly the same days."""
        if self.named:
            return False
        start = plan.treatment_start or plan.start_date
        for visit_date, max_supply, max_per_week in self.limits:
            day = treatment_day(start, visit_date) if visit_date is not None else 1
            limit = takehome_limit(rules, plan.medication, day)
            if limit.max_supply != max_supply or limit.max_per_week != max_per_week:
                return False
        return True


_UNREAD = TreatmentStartReads(False)


def plan_days_read(
    plan: PlanSpec, calendar: Calendar, rules: Rules, date_from: date, date_to: date
) -> tuple[list[Day], TreatmentStartReads]:
    """plan_days, and what the answer read of the plan's treatment start (issue #16: generation reuses an answer)."""
    _validate(plan, rules)
    if date_to < date_from:
        return [], _UNREAD
    if plan.medication in ORAL_DAILY:
        return _oral_days(plan, calendar, rules, date_from, date_to)
    if plan.medication == DIAMORPHINE:
        return [_diamorphine_day(plan, calendar, rules, d) for d in _dates(date_from, date_to)], _UNREAD
    return _injection_days(plan, calendar, rules, date_from, date_to), _UNREAD


def check_plan(plan: PlanSpec, calendar: Calendar, rules: Rules) -> None:
    """Raise PlanNotSatisfiable if the plan cannot work with the clinic's weekly windows (closures aside)."""
    _validate(plan, rules)
    med = plan.medication
    if med == DIAMORPHINE:
        failures = _weekday_fit_failures(plan, calendar, rules)
        if failures:
            interval = _diamorphine_interval(plan, rules)
            raise PlanNotSatisfiable(
                f"diamorphine {plan.doses_per_day} sessions a day at least {interval} minutes apart "
                f"do not fit the windows on {'; '.join(failures)}"
            )
        return
    if med in SPLIT_MEDICATIONS and plan.doses_per_day > 1:
        failures = _split_fit_failures(plan, calendar)
        if failures:
            minutes = int(_split_interval(plan).total_seconds() // 60)
            raise SplitNotSatisfiable(
                f"a {med} split dose needs two windows at least {minutes} minutes apart on every attendance day, "
                f"not on {'; '.join(failures)}"
            )
    weekdays = sorted(plan.attendance_weekdays) if med in ORAL_DAILY else list(range(7))
    if not any(calendar.weekday_windows(wd, med) for wd in weekdays):
        names = ", ".join(f"{_WEEKDAYS[wd]}s" for wd in weekdays)
        raise PlanNotSatisfiable(f"no window offers {med} on any attendance day ({names})")


def uncovered_by_closure(plan: PlanSpec, calendar: Calendar, rules: Rules, closure: Closure) -> bool:
    """True if `closure` would leave this diamorphine plan short of its sessions on that date.

    Only a closure that closes diamorphine on a date the plan is active (started, not ended, not paused)
    can leave it uncovered; a closure of other services changes nothing for this plan.
    """
    if plan.medication != DIAMORPHINE or not closure.closes(DIAMORPHINE):
        return False
    if _outside_day(plan, closure.date) is not None:
        return False
    with_closure = Calendar(calendar.tz, calendar.windows, (*calendar.closures, closure))
    return len(_diamorphine_day(plan, with_closure, rules, closure.date).sessions) < plan.doses_per_day


def _day_text(d: date) -> str:
    return f"{d:%a} {d.day} {d:%b}"


def takehome_breaches(plan: PlanSpec, calendar: Calendar, rules: Rules, date_from: date, date_to: date) -> list[str]:
    """Visits in [date_from, date_to] whose planned take-homes the rule set's limit would refuse at the window.

    The engine adds visits to keep every run of take-home days within the limit, but it cannot put a visit on a
    closure day: a run of closures longer than the tier allows (8 closed days on treatment day 14 under the
    2024 table) can only be settled when the plan or the closure is saved (issue #11: "never at the window").
    Counted the way completion counts them (visits.services): closure days count only when the rule set says
    so, and weekly caps add up the take-home days of every visit in an ISO week.
    """
    if plan.medication not in ORAL_DAILY or date_to < date_from:
        return []
    start = plan.treatment_start or plan.start_date
    week_used: dict[tuple[int, int], int] = {}
    breaches: list[str] = []
    for day in plan_days(plan, calendar, rules, date_from, date_to):
        if day.expected != VISIT or day.take_home_doses == 0:
            continue
        limit = takehome_limit(rules, plan.medication, treatment_day(start, day.date))
        covered = [day.date + timedelta(days=i) for i in range(1, day.take_home_doses + 1)]
        counted = (
            covered
            if rules.closure_doses_count
            else [d for d in covered if calendar.closed_reason(d, plan.medication) is None]
        )
        if limit.max_supply is not None and len(counted) > limit.max_supply:
            breaches.append(
                f"the visit on {_day_text(day.date)} would hand out {len(counted)} take-home doses "
                f"({day.take_home_doses} days until the next open day): {limit.rule} "
                f"(treatment day {limit.treatment_day})"
            )
            continue
        for d in counted:
            week_used[_iso_week(d)] = week_used.get(_iso_week(d), 0) + 1
        if limit.max_per_week is not None and any(week_used[_iso_week(d)] > limit.max_per_week for d in counted):
            breaches.append(f"the visit on {_day_text(day.date)} would pass the weekly cap: {limit.rule}")
    return breaches
