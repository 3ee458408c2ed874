"""The ledger: visits materialised from the engine or booked by hand, and escalations."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from scheduler.models import Clinic, DosingWindow, Patient, Plan

KIND_CHOICES = [
    ("dose", "Dose"),
    ("injection", "Injection"),
    ("counselling", "Counselling"),
    ("assessment", "Assessment"),
    ("callback", "Call-back"),
]
STATUS_CHOICES = [
    ("scheduled", "Scheduled"),
    ("checked_in", "Checked in"),
    ("completed", "Completed"),
    ("missed", "Missed"),
    ("cancelled", "Cancelled"),
    ("excused", "Excused"),
]
OPEN_STATUSES = ("scheduled", "checked_in")
SOURCE_CHOICES = [("plan", "Plan"), ("manual", "Manual")]
DRUG_SCREEN_RESULT_CHOICES = [
    ("negative", "Negative"),
    ("positive", "Positive"),
    ("refused", "Refused"),
    ("invalid", "Invalid sample"),
]
# Issue #15: a refused screen counts as positive (and raises the same take-home review).
SCREEN_POSITIVE_RESULTS = ("positive", "refused")


class Visit(models.Model):
    # Issue #16: no single-column index on these four foreign keys: the (patient, date), (clinic, date, status),
    # (plan, date) and (window, date) indexes below lead with them and serve every look-up (and the PROTECT /
    # SET_NULL checks) by the key alone; a second index on the same column only slowed every insert.
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="visits", db_index=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="visits", db_index=False)
    plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, related_name="visits", null=True, blank=True, db_index=False
    )
    kind = models.CharField(max_length=16, choices=KIND_CHOICES)
    date = models.DateField(help_text="Clinic-local date.")
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)
    window = models.ForeignKey(
        DosingWindow, null=True, blank=True, on_delete=models.SET_NULL, related_name="visits", db_index=False
    )
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default="scheduled")
    source = models.CharField(max_length=8, choices=SOURCE_CHOICES, default="manual")
    # Generated visits keep the date and session the engine planned them for, so a visit moved
    # by hand still occupies its planned slot and generation never recreates it.
    planned_date = models.DateField(null=True, blank=True)
    session = models.PositiveSmallIntegerField(default=0)
    edited = models.BooleanField(default=False, help_text="Changed by a person; regeneration leaves it alone.")
    reason = models.CharField(max_length=300, blank=True, default="")
    expected_take_home_doses = models.PositiveSmallIntegerField(default=0)
    target_date = models.DateField(null=True, blank=True)
    earliest = models.DateField(null=True, blank=True)
    latest = models.DateField(null=True, blank=True)

    take_home_doses = models.PositiveSmallIntegerField(default=0)
    # Issue #14: the amount given at this visit (per dose; diamorphine per session) and why it was less than
    # the order in force. Recorded at completion and never rewritten by a later order.
    dose_mg = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    # db_default: generation inserts rows with COPY / raw INSERT naming only the columns it fills.
    dose_reason = models.CharField(max_length=300, blank=True, default="", db_default="")
    # Issue #14: each take-home bottle's amount in mg, in the order of the dates it covers (a list of decimal
    # strings; null in an entry: no order in force for that date). Null: no take-homes, or recorded before this.
    take_home_mg = models.JSONField(null=True, blank=True)
    covered_through = models.DateField(null=True, blank=True, help_text="Last date covered by this dose.")
    checked_in_at = models.DateTimeField(null=True, blank=True)
    checked_in_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    bottles_returned = models.BooleanField(null=True, blank=True, help_text="Empty take-home bottles returned.")
    bottles_note = models.CharField(max_length=300, blank=True, default="")
    status_reason = models.CharField(max_length=300, blank=True, default="")
    missed_at = models.DateTimeField(null=True, blank=True)
    # Issue #15: a random drug screen drawn at check-in (42 CFR 8.12(f)(6), 2024: at least 8 a year) and its result.
    # db_default: generation inserts rows with COPY naming only the columns it fills.
    drug_screen = models.BooleanField(default=False, db_default=False)
    drug_screen_result = models.CharField(
        max_length=10, blank=True, default="", db_default="", choices=DRUG_SCREEN_RESULT_CHOICES
    )
    # Issue #15: what a positive screen found (a list of substance names as the nurse wrote them); null until a
    # result is recorded (generation copies rows with each field's default, and a list default would not survive).
    drug_screen_substances = models.JSONField(null=True, blank=True)
    # Issue #15: a call-back's bottle count at check-in: every take-home bottle handed out (full or empty) must
    # come back. Null until counted.
    callback_bottles_handed_out = models.PositiveSmallIntegerField(null=True, blank=True)
    callback_bottles_brought = models.PositiveSmallIntegerField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["date", "start", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "planned_date", "session"],
                condition=Q(source="plan"),
                name="one_generated_visit_per_plan_slot",
            ),
        ]
        indexes = [
            # Issue #16: the board's and visit list's (clinic, date, status) index, covering what the attendance
            # reports and retention's episodes read of a clinic's range (visits.reports, notifications.analytics):
            # an index-only read of the clinic's year or history instead of a heap fetch per visit, which grew with
            # the table (1M -> 15M: a parallel bitmap heap scan became one plain index scan). Replaces the plain
            # index of the same keys (migration 0014): one index to maintain on insert, not two.
            models.Index(
                fields=["clinic", "date", "status"],
                include=["patient", "plan", "kind", "covered_through", "id"],
                name="visit_clinic_date_covering",
            ),
            models.Index(fields=["patient", "date"]),
            models.Index(fields=["window", "date"]),
            models.Index(fields=["status", "end"]),
            models.Index(fields=["plan", "date"]),
            # Issue #16: the missed sweep's latest-completed read (visits.missed `_LAST_DONE_SQL`), one LIMIT 1
            # descent per plan instead of a scan of its whole completed history (which grows with time in
            # treatment). Partial: generation inserts only scheduled visits, which never enter them.
            models.Index(
                F("plan"),
                F("date").desc(),
                F("start").desc(nulls_last=True),
                F("id").desc(),
                name="visit_plan_last_completed",
                condition=Q(status="completed"),
            ),
            models.Index(
                F("plan"),
                F("covered_through").desc(nulls_last=True),
                name="visit_plan_furthest_cover",
                condition=Q(status="completed"),
            ),
            # Issue #16: the sweep's recently-missed read (visits.missed `_RECENTLY_MISSED_SQL`) reads only the visits
            # marked missed in the last minutes, not every missed visit of the chain's last two days.
            models.Index(
                fields=["missed_at"], name="visit_recently_missed", condition=Q(status="missed", plan__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"Visit #{self.pk} {self.kind} {self.date} ({self.status})"


class Escalation(models.Model):
    KIND_CHOICES = [
        ("outreach", "Outreach"),
        ("hold", "Hold"),
        ("clinician_review", "Clinician review"),
        ("reinduction", "Re-induction"),
        ("overdue_injection", "Overdue injection"),
        ("retitration", "Re-titration"),
        ("restart", "Re-start (injection too late)"),
        # Issue #15: a positive or refused drug screen: a clinician reviews take-home eligibility (not a hold).
        ("screen_review", "Take-home review after a drug screen"),
        # Issue #15: a call-back missed or short of bottles: earned take-homes suspended until a clinician acts.
        ("callback", "Call-back missed or short"),
    ]
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="escalations")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="escalations", null=True, blank=True)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="escalations")
    visit = models.ForeignKey(Visit, null=True, blank=True, on_delete=models.SET_NULL, related_name="escalations")
    kind = models.CharField(max_length=20, choices=KIND_CHOICES)
    reason = models.CharField(max_length=400)
    consecutive_missed = models.PositiveIntegerField(default=0)
    # The last covered date before the missed streak: one escalation per kind per streak.
    anchor_date = models.DateField()
    created = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution_note = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "kind", "anchor_date"], name="one_escalation_per_streak"),
        ]
        indexes = [models.Index(fields=["clinic", "resolved_at"])]

    def __str__(self) -> str:
        return f"Escalation #{self.pk} {self.kind} patient #{self.patient_id}"


class StaffTask(models.Model):
    """Work for the front desk that is not an escalation: SMS replies, bad numbers, the inbox."""

    KIND_CHOICES = [
        ("confirm", "Patient confirmed"),
        ("reschedule_request", "Patient asked to reschedule"),
        ("late", "Patient says they are late"),
        ("inbox", "Other reply"),
        ("phone_invalid", "Phone number rejected"),
        ("guest_dosing", "Guest dosing request"),
        # The hourly generation found no room in any window for some of the patient's visits.
        ("unplaced_visit", "Visits without room"),
        # Issue #17: a manager asked the front desk to reach a patient whose attendance is falling (drift list).
        ("drift_outreach", "Reach a patient whose attendance is falling"),
    ]
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="tasks")
    patient = models.ForeignKey(Patient, null=True, blank=True, on_delete=models.PROTECT, related_name="tasks")
    visit = models.ForeignKey(Visit, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks")
    kind = models.CharField(max_length=24, choices=KIND_CHOICES)
    detail = models.TextField(blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["clinic", "done_at"])]


class Assessment(models.Model):
    """A scored assessment at a visit (issue #14): the Clinical Opiate Withdrawal Scale (COWS, 11 items, 0–48)
    before a buprenorphine induction and during supervised withdrawal. Items are stored as given; the total is
    computed by visits.cows, never typed in."""

    SCALE_CHOICES = [("cows", "Clinical Opiate Withdrawal Scale (COWS)")]
    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="assessments")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="assessments")
    scale = models.CharField(max_length=16, choices=SCALE_CHOICES, default="cows")
    items = models.JSONField()
    total = models.PositiveSmallIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "id"]
        indexes = [models.Index(fields=["patient", "created"])]

    def __str__(self) -> str:
        return f"Assessment #{self.pk} {self.scale} {self.total} (visit #{self.visit_id})"


class OutreachCall(models.Model):
    """The front desk's call to a patient on an outreach escalation (issue #13): who called, when, what came of it.
    A call never resolves the escalation; the history shows on the patient page. Written by visits.outreach."""

    OUTCOME_CHOICES = [
        ("reached", "Reached"),
        ("no_answer", "No answer"),
        ("wrong_number", "Wrong number"),
        ("message_left", "Message left"),
    ]
    escalation = models.ForeignKey(Escalation, on_delete=models.PROTECT, related_name="calls")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="outreach_calls")
    outcome = models.CharField(max_length=16, choices=OUTCOME_CHOICES)
    note = models.CharField(max_length=300, blank=True, default="")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["patient", "created"])]

    def __str__(self) -> str:
        return f"Outreach call #{self.pk} {self.outcome} patient #{self.patient_id}"


class EscalationDay(models.Model):
    """Issue #16: a clinic-local date on which the missed sweep evaluated every plan in a streak at that clinic.

    The ladder's steps follow days uncovered, which change with the date; within a day only newly missed visits
    (and a rule-set edit: `rules_updated`) change them, so later sweeps of the day evaluate only those plans.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    date = models.DateField(help_text="Clinic-local date.")
    # The clinic's rule set's `updated` when the day was evaluated: an edit later that day re-evaluates it.
    rules_updated = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["clinic", "date"], name="one_escalation_day_per_clinic")]

    def __str__(self) -> str:
        return f"Escalation day {self.date} clinic #{self.clinic_id}"


class AttendanceMonth(models.Model):
    """Issue #16: a closed month's attendance counts for one clinic, read by the attendance report
    (visits.reports `attendance_report`) instead of the month's visits — a clinic's year is ≈ 88,000 visits.

    A month is cached as one marker row (no patient, no day) with a row per patient (`day` empty) and per day
    (`patient_id` empty). It is only a copy: every INSERT, UPDATE, DELETE (and COPY) on visits_visit removes the
    cached rows of the (clinic, month) pairs it touched, in a statement trigger of the database (migration 0016), so
    no write path can leave a stale count; a TRUNCATE of visits empties it. Filling it is guarded by an advisory
    lock per clinic that every write takes shared (`ATTENDANCE_LOCK`): see `visits.reports._fill_months`.
    Plain integers, no foreign keys: the rows go with their visits (the trigger), and nothing here is a record.
    """

    clinic_id = models.IntegerField()
    month = models.DateField(help_text="The month's first day (clinic-local dates, as visits.date).")
    patient_id = models.IntegerField(null=True)
    day = models.DateField(null=True)
    total = models.IntegerField(help_text="Visits, cancelled ones included.")
    completed = models.IntegerField()
    missed = models.IntegerField()
    excused = models.IntegerField()
    cancelled = models.IntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic_id", "month", "patient_id", "day"],
                nulls_distinct=False,
                name="one_attendance_count",
            ),
        ]

    def __str__(self) -> str:
        return f"Attendance {self.month:%Y-%m} clinic #{self.clinic_id}"
