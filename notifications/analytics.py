"""Selectors for the manager analytics (issue #17): figures counted in PostgreSQL, statistics in visits.retention.

- retention_report: episodes (one SQL row each; visits.retention.episodes is the pure reference) and Kaplan–Meier
  retention by program (medication) and quarter of start;
- reminder_effect: attendance of injection and counselling visits with a delivered reminder versus without;
- drift_list: patients whose attendance is falling (in SQL; `drift_of` is the pure reference).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

from django.db import connection
from django.db.models import Case, CharField, Count, Exists, F, OuterRef, Q, Value, When
from django.db.models.functions import Coalesce

from notifications.models import Message
from scheduler.models import MEDICATION_CHOICES, Clinic, Patient
from scheduler.selectors import rules_for_clinic
from visits import retention
from visits.models import StaffTask, Visit

MEDICATION_LABELS = dict(MEDICATION_CHOICES)
RETENTION_DAYS = (90, 180)
MIN_GROUP = 30  # below this many decided visits a group shows its counts, not a rate


# --- retention ---------------------------------------------------------------------------------------


# One row per episode of treatment (visits.retention's definitions, which stay the pure reference): each dose's
# cover; the furthest cover of the (patient, medication)'s earlier doses (day order; a same-day tie is covered by
# the first); days without medication before the dose; a new episode where those reach the readmission gap; the
# first 30+ day gap inside an episode leaves on the dose before it, else 30+ uncovered days before today leave
# on the last dose.
# Issue #16: the visits are read index-only (the covering (clinic, date, status) index holds every column used here).
# A visit's medication comes from the plans of the clinic's current patients (`clinic_plan`, read through the plans'
# patient index: a hash of one clinic's plans; joined to every plan, PostgreSQL hashed the whole chain's, 79,000 at
# 15M visits, 15 ms); a plan of a patient who has since moved to another clinic is looked up by id (evaluated only for
# such a visit), so the rows are the same. An injection's window interval is an array look-up, not a join.
_EPISODES_SQL = """
WITH clinic_plan AS (
    SELECT pl.id, pl.medication
      FROM scheduler_plan pl
     WHERE pl.patient_id = ANY(ARRAY(SELECT pt.id FROM scheduler_patient pt WHERE pt.clinic_id = %(clinic)s))
), visit AS (
    SELECT v.id, v.patient_id, v.kind, v.date, v.covered_through,
           coalesce(cp.medication, (SELECT o.medication FROM scheduler_plan o WHERE o.id = v.plan_id)) AS medication
      FROM visits_visit v
      LEFT JOIN clinic_plan cp ON cp.id = v.plan_id
     WHERE v.clinic_id = %(clinic)s AND v.status = 'completed' AND v.kind IN ('dose', 'injection')
       AND v.date <= %(today)s AND v.plan_id IS NOT NULL
), windowed AS (  -- an injection's window interval (NULL: no window for its medication); the medications are unique
    SELECT v.*,
           CASE WHEN v.kind = 'injection'
                THEN (%(window_days)s::int[])[array_position(%(window_meds)s::text[], v.medication::text)]
           END AS interval_days
      FROM visit v
), dose AS (
    SELECT v.id, v.patient_id, v.medication COLLATE "C" AS medication, v.date AS day,
           CASE WHEN v.interval_days IS NOT NULL THEN v.date + (v.interval_days - 1)
                ELSE greatest(coalesce(v.covered_through, v.date), v.date) END AS cover
      FROM windowed v
     WHERE %(medication)s = '' OR v.medication = %(medication)s
), gapped AS (
    SELECT *,
           max(cover) OVER earlier AS earlier_cover,  -- NULL for the first dose
           max(day) OVER earlier AS previous_day
      FROM dose
    WINDOW earlier AS (PARTITION BY patient_id, medication ORDER BY day, id
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
), gaps AS (
    SELECT *, CASE WHEN earlier_cover IS NOT NULL THEN greatest(day - earlier_cover - 1, 0) END AS gap
      FROM gapped
), numbered AS (
    SELECT *,
           count(*) FILTER (WHERE gap IS NULL OR gap >= %(readmission_gap)s) OVER (
               PARTITION BY patient_id, medication ORDER BY day, id ROWS UNBOUNDED PRECEDING) AS episode
      FROM gaps
), episodes AS (
    SELECT patient_id, medication, min(day) AS start, max(day) AS last_dose, count(*) AS doses, max(cover) AS cover,
           min(previous_day) FILTER (WHERE gap >= %(leave_days)s AND gap < %(readmission_gap)s) AS left_inside
      FROM numbered
     GROUP BY patient_id, medication, episode
)
SELECT patient_id, medication, start, last_dose, doses, left_on,
       greatest(coalesce(left_on, %(today)s) - start, 0) AS duration_days
  FROM (SELECT *, coalesce(left_inside, CASE WHEN %(today)s - cover >= %(leave_days)s THEN last_dose END) AS left_on
          FROM episodes) e
 ORDER BY start, patient_id, medication
"""


def load_episodes(clinic: Clinic, today: date, medication: str = "") -> list[retention.Episode]:
    """The clinic's episodes of treatment up to `today`, computed by PostgreSQL (see _EPISODES_SQL)."""
    rules = rules_for_clinic(clinic)
    windows = sorted(rules.injection_windows.items())
    params: dict[str, Any] = {
        "clinic": clinic.pk,
        "today": today,
        "medication": medication,
        "window_meds": [med for med, _ in windows],
        "window_days": [w.interval_days for _, w in windows],
        "readmission_gap": rules.readmission_gap_days,
        "leave_days": retention.LEAVE_DAYS,
    }
    with connection.cursor() as cursor:
        cursor.execute(_EPISODES_SQL, params)
        return [retention.Episode(*row) for row in cursor.fetchall()]


def _retention_figures(eps: Sequence[retention.Episode]) -> dict[str, Any]:
    steps = retention.retention_curve(eps)
    return {
        "episodes": len(eps),
        "left": sum(1 for e in eps if e.left),
        **{f"retention_{d}": asdict(retention.survival_at(steps, d, len(eps))) for d in RETENTION_DAYS},
        "curve": [asdict(s) for s in steps],
    }


def episode_row(e: retention.Episode) -> dict[str, Any]:
    return {
        "patient": e.patient_id,
        "medication": e.medication,
        "cohort": e.cohort,
        "start": e.start,
        "last_dose": e.last_dose,
        "doses": e.doses,
        "left": e.left,
        "left_on": e.left_on,
        "duration_days": e.duration_days,
    }


def retention_report(*, clinic: Clinic, today: date, medication: str = "") -> dict[str, Any]:
    rules = rules_for_clinic(clinic)
    eps = load_episodes(clinic, today, medication)
    by_program: dict[str, list[retention.Episode]] = defaultdict(list)
    by_cohort: dict[tuple[str, str], list[retention.Episode]] = defaultdict(list)
    for e in eps:
        by_program[e.medication].append(e)
        by_cohort[(e.medication, e.cohort)].append(e)
    return {
        "today": today,
        "leave_days": retention.LEAVE_DAYS,
        "readmission_gap_days": rules.readmission_gap_days,
        "interval": "95% Kaplan–Meier interval: Greenwood variance on the log-log scale",
        "overall": _retention_figures(eps),
        "by_program": [
            {"medication": med, "label": MEDICATION_LABELS.get(med, med), **_retention_figures(group)}
            for med, group in sorted(by_program.items())
        ],
        "by_cohort": [
            {"medication": med, "cohort": cohort, **_retention_figures(group)}
            for (med, cohort), group in sorted(by_cohort.items())
        ],
        "episodes": [episode_row(e) for e in eps],
    }


# --- reminder effect ---------------------------------------------------------------------------------

REMINDER_KINDS = ("injection", "counselling")
# A reminder was due when the outbox decided it: sent, delivered, or dropped (undelivered, failed, skipped for
# opt-out, no consent or quiet hours). A visit with no decided reminder (none planned, or still pending) is left out.
DECIDED_REMINDER = ("sent", "delivered", "undelivered", "failed", "skipped")
DELIVERED_REMINDER = ("sent", "delivered")
CAVEAT = (
    "Visits with and without a delivered reminder are different groups (patients who opted out or gave no "
    "consent differ in other ways): the difference is an association, not the effect of the reminder alone."
)


def _group(attended: int, missed: int) -> dict[str, Any]:
    n = attended + missed
    small = n < MIN_GROUP
    interval = None if small else retention.wilson_interval(attended, n)
    return {
        "visits": n,
        "attended": attended,
        "missed": missed,
        "too_small": small,
        "rate": None if small else round(attended / n, 4),
        "lower": None if interval is None else round(interval[0], 4),
        "upper": None if interval is None else round(interval[1], 4),
        "note": f"Fewer than {MIN_GROUP} visits: too few for a rate." if small else "",
    }


def reminder_effect(*, clinic: Clinic, date_from: date, date_to: date) -> dict[str, Any]:
    """Attendance (completed / (completed + missed)) of injection and counselling visits whose reminder was due,
    with a delivered reminder versus without, per medication (injections) or kind (counselling): one query."""
    reminders = Message.objects.filter(visit=OuterRef("pk"), purpose="reminder")
    rows = (
        Visit.objects.filter(
            clinic=clinic,
            date__range=(date_from, date_to),
            kind__in=REMINDER_KINDS,
            status__in=("completed", "missed"),
        )
        .filter(Exists(reminders.filter(status__in=DECIDED_REMINDER)))
        .annotate(
            reminded=Exists(reminders.filter(status__in=DELIVERED_REMINDER)),
            service=Case(
                When(kind="counselling", then=Value("counselling")),
                default=Coalesce(F("plan__medication"), F("kind")),
                output_field=CharField(),
            ),
        )
        .order_by()
        .values("service", "reminded")
        .annotate(attended=Count("id", filter=Q(status="completed")), missed=Count("id", filter=Q(status="missed")))
    )
    counts: dict[str, dict[bool, tuple[int, int]]] = defaultdict(dict)
    for r in rows:
        counts[r["service"]][r["reminded"]] = (r["attended"], r["missed"])
    groups = []
    for service in sorted(counts):
        by = counts[service]
        groups.append(
            {
                "service": service,
                "label": MEDICATION_LABELS.get(service, service.capitalize()),
                "reminded": _group(*by.get(True, (0, 0))),
                "not_reminded": _group(*by.get(False, (0, 0))),
            }
        )
    return {"date_from": date_from, "date_to": date_to, "min_group": MIN_GROUP, "caveat": CAVEAT, "groups": groups}


# --- drift list --------------------------------------------------------------------------------------

RECENT_DAYS = 28  # the last 4 weeks, today included
BEFORE_DAYS = 56  # the 8 weeks before them
STREAK_DAYS = 28  # attended days in a row before a first missed day


@dataclass(frozen=True)
class Drift:
    patient_id: int
    recent: int  # kept (completed) visits over the last 4 weeks
    before: int  # kept visits over the 8 weeks before
    drop: float | None  # the fall in kept visits a week, as a share of the earlier rate (None: none before)
    falling: bool  # drop >= the rule set's drift_drop_ratio
    streak: int  # attended days in a row before `missed_on` (0 when no streak was broken)
    missed_on: date | None  # a first missed day in the last 4 weeks after STREAK_DAYS+ attended days


def _drop(recent: int, before: int) -> float | None:
    return None if before == 0 else round(1 - 2 * recent / before, 4)


def drift_of(patient_id: int, visits: Sequence[tuple[date, str]], *, today: date, drop_ratio: float) -> Drift | None:
    """Pure: is this patient drifting? `visits` are (date, status) of decided visits (completed or missed).

    Falling: kept visits a week over the last 4 weeks are at most (1 - drop_ratio) of those over the 8 weeks before,
    i.e. 2·recent <= (1 - ratio)·before, compared exactly (a fall of exactly the ratio counts). A first missed
    day after a streak: a day with a missed visit in the last 4 weeks whose STREAK_DAYS or more previous visit days
    (days with a decided visit; take-home days have none) were all attended.
    """
    recent_from = today - timedelta(days=RECENT_DAYS - 1)
    before_from = recent_from - timedelta(days=BEFORE_DAYS)
    recent = sum(1 for day, status in visits if status == "completed" and recent_from <= day <= today)
    before = sum(1 for day, status in visits if status == "completed" and before_from <= day < recent_from)
    ratio = Fraction(str(drop_ratio))
    falling = before > 0 and 2 * recent <= (1 - ratio) * before

    days: dict[date, str] = {}
    for day, status in visits:
        if day <= today and days.get(day) != "missed":
            days[day] = status  # a day with any missed visit is a missed day
    streak, best_streak, missed_on = 0, 0, None
    for day in sorted(days):
        if days[day] == "completed":
            streak += 1
            continue
        if streak >= STREAK_DAYS and day >= recent_from:
            best_streak, missed_on = streak, day
        streak = 0
    if not falling and missed_on is None:
        return None
    return Drift(patient_id, recent, before, _drop(recent, before), falling, best_streak, missed_on)


# drift_of in PostgreSQL, for the patients of a clinic at once: kept visits per patient over the last 4 weeks and
# the 8 before; per day, missed if any visit was; a missed day's streak is the attended days since the missed day
# before it (running counts, one sort); the latest missed day of the last 4 weeks after a streak of STREAK_DAYS+.
# Only the drifting patients come back. The ratio is compared as numeric, exactly, as drift_of's Fraction.
_DRIFT_SQL = """
WITH days AS (
    SELECT patient_id, date AS day, bool_or(status = 'missed') AS missed,
           count(*) FILTER (WHERE status = 'completed') AS kept
      FROM visits_visit
     WHERE clinic_id = %(clinic)s AND date BETWEEN %(since)s AND %(today)s AND status IN ('completed', 'missed')
     GROUP BY patient_id, date
), counted AS (
    SELECT *, count(*) FILTER (WHERE NOT missed) OVER (PARTITION BY patient_id ORDER BY day ROWS UNBOUNDED PRECEDING)
                  AS attended  -- attended days so far
      FROM days
), streaks AS (
    SELECT *, attended - coalesce(max(attended) FILTER (WHERE missed) OVER (
                  PARTITION BY patient_id ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS streak
      FROM counted
), patients AS (
    SELECT patient_id,
           coalesce(sum(kept) FILTER (WHERE day >= %(recent_from)s), 0)::int AS recent,
           coalesce(sum(kept) FILTER (WHERE day < %(recent_from)s), 0)::int AS before,
           (array_agg(streak ORDER BY day DESC) FILTER (WHERE broken))[1]::int AS streak,
           max(day) FILTER (WHERE broken) AS missed_on
      FROM (SELECT *, missed AND day >= %(recent_from)s AND streak >= %(streak_days)s AS broken FROM streaks) s
     GROUP BY patient_id
)
SELECT patient_id, recent, before, before > 0 AND 2 * recent <= (1 - %(ratio)s::numeric) * before AS falling,
       coalesce(streak, 0), missed_on
  FROM patients
 WHERE (before > 0 AND 2 * recent <= (1 - %(ratio)s::numeric) * before) OR missed_on IS NOT NULL
"""


def load_drifts(clinic: Clinic, today: date, drop_ratio: float) -> list[Drift]:
    """The clinic's drifting patients as drift_of decides them on the last 12 weeks, computed by PostgreSQL."""
    recent_from = today - timedelta(days=RECENT_DAYS - 1)
    params: dict[str, Any] = {
        "clinic": clinic.pk,
        "today": today,
        "since": recent_from - timedelta(days=BEFORE_DAYS),
        "recent_from": recent_from,
        "streak_days": STREAK_DAYS,
        "ratio": str(drop_ratio),
    }
    with connection.cursor() as cursor:
        cursor.execute(_DRIFT_SQL, params)
        rows = cursor.fetchall()
    return [
        Drift(pid, recent, before, _drop(recent, before), falling, streak, missed_on)
        for pid, recent, before, falling, streak, missed_on in rows
    ]


def drift_list(*, clinic: Clinic, today: date) -> list[dict[str, Any]]:
    """Patients drifting away (see drift_of), with the figures and whether an outreach task is already open."""
    drifts = load_drifts(clinic, today, rules_for_clinic(clinic).drift_drop_ratio)
    if not drifts:
        return []
    ids = [d.patient_id for d in drifts]
    patients = {p["id"]: p for p in Patient.objects.filter(pk__in=ids).values("id", "mrn", "first_name", "last_name")}
    open_tasks = set(
        StaffTask.objects.filter(
            clinic=clinic, patient_id__in=ids, kind="drift_outreach", done_at__isnull=True
        ).values_list("patient_id", flat=True)
    )
    out = [
        {
            **asdict(d),
            **{k: patients[d.patient_id][k] for k in ("mrn", "first_name", "last_name")},
            "task_open": d.patient_id in open_tasks,
        }
        for d in drifts
    ]
    return sorted(out, key=lambda r: (-(r["drop"] or 0), r["last_name"], r["first_name"], r["patient_id"]))


def request_outreach(*, clinic: Clinic, patient: Patient) -> tuple[StaffTask, bool]:
    """A front-desk task to reach a drifting patient; an open one is reused (created = False)."""
    existing = StaffTask.objects.filter(
        clinic=clinic, patient=patient, kind="drift_outreach", done_at__isnull=True
    ).first()
    if existing is not None:
        return existing, False
    detail = "Attendance is falling (drift list): please call the patient and offer help to keep visits."
    return StaffTask.objects.create(clinic=clinic, patient=patient, kind="drift_outreach", detail=detail), True
