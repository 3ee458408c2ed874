"""The today board: today's visits per window, live counts, check-in and completion."""

from __future__ import annotations

from collections import OrderedDict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from notifications.replanning import visit_excuse
from scheduler.errors import RuleViolation, StateConflict
from scheduler.models import Clinic, Patient
from scheduler.permissions import DOSING, FRONT_DESK
from visits.models import Visit
from visits.services import visit_check_in, visit_complete, visit_reopen_missed, visit_undo_check_in
from web import selectors
from web.access import clinic_or_404, clinics_for, require, staff_view, visit_or_404
from web.forms import TakeHomeForm, take_home_amounts
from web.templatetags.doses import mg_plain
from web.views.common import page_context

STATUS_BADGES = {
    "expected": "Expected",
    "on_hold": "On hold",
    "blocked": "Blocked",
    "checked_in": "Checked in",
    "completed": "Completed",
    "missed": "Missed",
    "excused": "Excused",
}


@staff_view
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    clinic = clinics_for(request.user).first()
    if clinic is None:
        return render(request, "web/no_clinic.html", page_context(request), status=200)
    return redirect("web:today", clinic_id=clinic.pk)


def _window_label(visit: Visit, tz: ZoneInfo) -> tuple[Any, str]:
    if visit.window is not None:
        w = visit.window
        return (w.start, w.end, w.pk), f"{w.start:%H:%M}–{w.end:%H:%M}"
    if visit.start is not None:
        start = visit.start.astimezone(tz)
        end = visit.end.astimezone(tz) if visit.end else None
        label = f"{start:%H:%M}" + (f"–{end:%H:%M}" if end else "")
        return (start.time(), start.time(), 0), f"Booked {label}"
    return (None, None, 0), "No window"


def render_board(
    request: HttpRequest,
    clinic: Clinic,
    *,
    row_errors: dict[int, str] | None = None,
    dose_errors: dict[int, str] | None = None,
    bottle_errors: dict[int, str] | None = None,
    typed: dict[int, dict[str, Any]] | None = None,
    scan: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    """The board; `row_errors` and `typed` put a refusal and what the user typed back on their row."""
    day = selectors.clinic_today(clinic)
    tz = ZoneInfo(clinic.timezone)
    visits = selectors.board_visits(clinic=clinic, day=day)
    blockers = selectors.board_blockers(visits=visits)
    planned = selectors.planned_take_homes(clinic=clinic, visits=visits)
    escalations = selectors.open_escalations_by_patient(clinic=clinic, patient_ids=[v.patient_id for v in visits])
    doses = selectors.board_doses(visits=visits, day=day)
    # Issue #14: the take-home bottles of each open dose row (the number typed back, else the planned number).
    bottles = selectors.take_home_bottles(counts={
        v: _bottle_count((typed or {}).get(v.pk, {}), planned.get(v.pk))
        for v in visits
        if v.kind == "dose" and v.plan_id is not None and v.status in ("scheduled", "checked_in")
    })
    groups: OrderedDict[Any, dict[str, Any]] = OrderedDict()
    for visit in sorted(visits, key=lambda v: (_sort_key(_window_label(v, tz)[0]), v.patient.last_name, v.pk)):
        key, label = _window_label(visit, tz)
        group = groups.setdefault(key, {"label": label, "rows": []})
        badge = selectors.board_state(visit, blockers)
        values = (typed or {}).get(visit.pk, {})
        due = doses.get(visit.pk)
        group["rows"].append(
            {
                "visit": visit,
                "badge": badge,
                "badge_label": STATUS_BADGES.get(badge, visit.get_status_display()),
                "blocker": blockers.get(visit.pk, ""),
                "escalations": escalations.get(visit.patient_id, []),
                "error": (row_errors or {}).get(visit.pk, ""),
                "planned": planned.get(visit.pk),
                "take_home_value": values.get("take_home_doses", planned.get(visit.pk, 0)),
                "take_home_reason": values.get("take_home_reason", ""),
                "excuse_reason": values.get("excuse_reason", ""),
                "excuse_open": "excuse_reason" in values,
                # Issue #14: the amount due (the order in force that day) prefills the dose field.
                "due": due,
                "dose_value": values.get("dose_mg", mg_plain(due.amount) if due and due.amount is not None else ""),
                "dose_reason": values.get("dose_reason", ""),
                "dose_error": (dose_errors or {}).get(visit.pk, ""),
                "bottles": [
                    (b, (values.get("bottles") or {}).get(b.number, "")) for b in bottles.get(visit.pk, [])
                ],
                "bottle_error": (bottle_errors or {}).get(visit.pk, ""),
                "bottles_given": _bottles_given(visit),
            }
        )
    context = page_context(
        request,
        clinic,
        day=day,
        groups=list(groups.values()),
        counts=selectors.count_states(visits, blockers),
        scan=scan or {},
        scan_focus=bool(scan) or request.GET.get("scan") == "1",
        nav_active="today",
    )
    return render(request, "web/today.html", context, status=status)


def _bottle_count(values: dict[str, Any], planned: int | None) -> int:
    """How many bottles a row shows: the number typed back after a refusal (when it is one), else the planned."""
    typed = str(values.get("take_home_doses", "")).strip()
    if typed:
        return int(typed) if typed.isascii() and typed.isdigit() and int(typed) <= 31 else 0
    return planned or 0


def _bottles_given(visit: Visit) -> list[tuple[Any, Any]]:
    """A completed visit's take-home bottles as recorded (amount, the date each covers)."""
    if visit.status != "completed" or not visit.take_home_mg:
        return []
    return [
        (None if amount is None else Decimal(amount), visit.date + timedelta(days=n))
        for n, amount in enumerate(visit.take_home_mg, start=1)
    ]


# The guard's and the services' refusals name the API's fields; the board says where to act instead.
_NURSE_WORDS = (
    ("Record a COWS (POST …/assessments/), or a clinician may override with a dose_reason.",
     "Record a COWS (“Record COWS” on this row), or a clinician may give it anyway by writing why in “Reason” "
     "beside the dose."),
    ("may document why with a dose_reason", "may document why in “Reason” beside the dose"),
    ("give a dose_reason", "give the reason in “Reason” beside the dose"),
    ("take_home_mg: ", ""),
)


def nurse_words(message: str) -> str:
    for api, board in _NURSE_WORDS:
        message = message.replace(api, board)
    return message


def _sort_key(key: tuple[Any, Any, int]) -> tuple[int, str, str, int]:
    start, end, pk = key
    if start is None:
        return (1, "", "", pk)
    return (0, start.isoformat(), end.isoformat() if end else "", pk)


@never_cache
@staff_view
@require_GET
def today(request: HttpRequest, clinic_id: int) -> HttpResponse:
    return render_board(request, clinic_or_404(request.user, clinic_id))


@never_cache
@staff_view
@require_GET
def today_counts(request: HttpRequest, clinic_id: int) -> JsonResponse:
    clinic = clinic_or_404(request.user, clinic_id)
    day = selectors.clinic_today(clinic)
    return JsonResponse({"date": day.isoformat(), **selectors.board_counts(clinic=clinic, day=day)})


def _back_to_board(visit: Visit) -> HttpResponse:
    return redirect(reverse("web:today", kwargs={"clinic_id": visit.clinic_id}) + f"#visit-{visit.pk}")


@staff_view
@require_POST
def check_in(request: HttpRequest, visit_id: int) -> HttpResponse:
    visit = visit_or_404(request.user, visit_id)
    require(request.user, FRONT_DESK)
    try:
        # DOMAIN.md §6: empty take-home bottles come back at the next visit; a failed return is recorded.
        bottles = {"yes": True, "no": False}.get(request.POST.get("bottles_returned", ""))
        visit_check_in(visit=visit, by=request.user, bottles_returned=bottles)
    except (RuleViolation, StateConflict) as exc:
        return render_board(request, visit.clinic, row_errors={visit.pk: exc.message}, status=exc.status_code)
    messages.success(request, f"Checked in: {visit.patient.first_name} {visit.patient.last_name}.")
    return _back_to_board(visit)


def _form_error(form: TakeHomeForm) -> str:
    if "dose_mg" in form.errors:
        return f"Dose (mg): give the amount in mg, for example 30 or 27.5. {' '.join(map(str, form.errors['dose_mg']))}"
    if "dose_reason" in form.errors:
        return f"Reason for a smaller dose: {' '.join(map(str, form.errors['dose_reason']))}"
    if "take_home_doses" in form.errors:
        return f"Take-home doses must be a whole number. {' '.join(str(m) for m in form.errors['take_home_doses'])}"
    return f"Reason: {' '.join(str(m) for m in form.errors.get('take_home_reason', []))}"


COMPLETE_FIELDS = ("take_home_doses", "take_home_reason", "dose_mg", "dose_reason")
DOSE_FIELDS = {"dose_mg", "dose_reason"}


def _about_the_amount(exc: RuleViolation | StateConflict) -> bool:
    """Whether the service's refusal is about the amount (shown beside the dose field): it names the dose fields
    (a reason missing for less, more than the order, the guard's amount limits and buprenorphine's COWS threshold,
    which a clinician overrides with the dose's reason)."""
    return exc.field in DOSE_FIELDS


@staff_view
@require_POST
def complete(request: HttpRequest, visit_id: int) -> HttpResponse:
    visit = visit_or_404(request.user, visit_id)
    require(request.user, DOSING)
    form = TakeHomeForm(request.POST)
    # STYLE.md: a refusal keeps what the user typed (the number and the reason stay in their fields).
    typed: dict[int, dict[str, Any]] = {
        visit.pk: {
            k: request.POST.get(k, "")[:400] for k in COMPLETE_FIELDS if k in request.POST or k not in DOSE_FIELDS
        }
    }
    typed[visit.pk]["bottles"] = {
        n: request.POST.get(f"take_home_mg_{n}", "")[:20] for n in range(1, 32) if f"take_home_mg_{n}" in request.POST
    }
    if not form.is_valid():
        message = _form_error(form)
        if DOSE_FIELDS & set(form.errors):
            return render_board(request, visit.clinic, dose_errors={visit.pk: message}, typed=typed, status=400)
        return render_board(request, visit.clinic, row_errors={visit.pk: message}, typed=typed, status=400)
    take_homes: int | None = form.cleaned_data["take_home_doses"]
    reason: str = form.cleaned_data["take_home_reason"]
    # Issue #14: each bottle's amount (all empty: the service gives the order in force on each day).
    bottles, bottle_error = take_home_amounts(request.POST, take_homes or 0)
    if bottle_error:
        return render_board(request, visit.clinic, bottle_errors={visit.pk: bottle_error}, typed=typed, status=400)
    try:
        done = visit_complete(
            visit=visit, by=request.user, take_home_doses=take_homes, take_home_reason=reason,
            dose_mg=form.cleaned_data["dose_mg"], dose_reason=form.cleaned_data["dose_reason"], take_home_mg=bottles,
        )
    except (RuleViolation, StateConflict) as exc:
        errors = {visit.pk: nurse_words(exc.message)}
        if _about_the_bottles(exc):
            return render_board(request, visit.clinic, bottle_errors=errors, typed=typed, status=exc.status_code)
        if _about_the_amount(exc):
            return render_board(request, visit.clinic, dose_errors=errors, typed=typed, status=exc.status_code)
        return render_board(request, visit.clinic, row_errors=errors, typed=typed, status=exc.status_code)
    suffix = f" with {take_homes} take-home dose{'s' if take_homes != 1 else ''}" if take_homes else ""
    if take_homes and reason:
        suffix += f" (reason: {reason})"
    if done.dose_mg is not None:
        suffix += f", {mg_plain(done.dose_mg)} mg given" + (f" ({done.dose_reason})" if done.dose_reason else "")
    if done.take_home_mg and any(a is not None for a in done.take_home_mg):
        amounts = ("—" if a is None else f"{mg_plain(Decimal(a))} mg" for a in done.take_home_mg)
        suffix += "; bottles " + ", ".join(amounts)
    messages.success(request, f"Completed: {visit.patient.first_name} {visit.patient.last_name}{suffix}.")
    return _back_to_board(visit)


def _about_the_bottles(exc: RuleViolation | StateConflict) -> bool:
    """A refusal about a take-home bottle's amount (shown beside the bottles): it names take_home_mg, or its message
    is prefixed with it (a bottle below its order without a reason names dose_reason, the input missing)."""
    return exc.field == "take_home_mg" or exc.message.startswith("take_home_mg:")


def _name(visit: Visit) -> str:
    return f"{visit.patient.first_name} {visit.patient.last_name}"


def _refusal(request: HttpRequest, visit: Visit, exc: RuleViolation | StateConflict, **typed: str) -> HttpResponse:
    return render_board(
        request,
        visit.clinic,
        row_errors={visit.pk: exc.message},
        typed={visit.pk: typed} if typed else None,
        status=exc.status_code,
    )


@staff_view
@require_POST
def undo_check_in(request: HttpRequest, visit_id: int) -> HttpResponse:
    """A check-in made by mistake (the wrong patient at the desk) is put back to expected, audited by the service."""
    visit = visit_or_404(request.user, visit_id)
    require(request.user, FRONT_DESK)
    try:
        visit_undo_check_in(visit=visit, by=request.user)
    except (RuleViolation, StateConflict) as exc:
        return _refusal(request, visit, exc)
    messages.success(request, f"Check-in undone: {_name(visit)} is expected again.")
    return _back_to_board(visit)


@staff_view
@require_POST
def reopen_missed(request: HttpRequest, visit_id: int) -> HttpResponse:
    """A late arrival: today's missed visit is re-opened and checked in; the dose still goes through the guard."""
    visit = visit_or_404(request.user, visit_id)
    require(request.user, FRONT_DESK)
    try:
        visit_reopen_missed(visit=visit, by=request.user)
    except (RuleViolation, StateConflict) as exc:
        return _refusal(request, visit, exc)
    messages.success(request, f"Late arrival: {_name(visit)} is checked in again.")
    return _back_to_board(visit)


@staff_view
@require_POST
def excuse(request: HttpRequest, visit_id: int) -> HttpResponse:
    visit = visit_or_404(request.user, visit_id)
    require(request.user, FRONT_DESK)
    reason = request.POST.get("reason", "")[:400]
    if not reason.strip():
        exc = RuleViolation("Give a reason to excuse this visit (for example: in hospital).", "reason")
        return _refusal(request, visit, exc, excuse_reason=reason)
    if len(reason.strip()) > 300:
        exc = RuleViolation(f"The reason is {len(reason.strip())} characters long; keep it to 300 or fewer.")
        return _refusal(request, visit, exc, excuse_reason=reason)
    try:
        visit_excuse(visit=visit, reason=reason, by=request.user)
    except (RuleViolation, StateConflict) as exc:
        return _refusal(request, visit, exc, excuse_reason=reason)
    messages.success(request, f"Excused: {_name(visit)} (reason: {reason.strip()}).")
    return _back_to_board(visit)


# A plan's dose or injection is what the front desk scans a patient in for; other visits come after it.
_KIND_ORDER = {"dose": 0, "injection": 1}


def _scan_target(clinic: Clinic, mrn: str, day: date) -> tuple[Patient | None, Visit | None, str]:
    """The patient with exactly this MRN at this clinic and their open visit today, or why there is none."""
    patient = Patient.objects.filter(clinic=clinic, mrn=mrn).first()
    if patient is None:
        return None, None, f"No patient with MRN {mrn} at {clinic.name}. Check the number, or find the patient by name."
    name = f"{patient.first_name} {patient.last_name} (MRN {patient.mrn})"
    todays = list(
        Visit.objects.filter(clinic=clinic, patient=patient, date=day)
        .select_related("clinic", "patient", "plan", "window")
        .order_by("start", "id")
    )
    open_visits = sorted((v for v in todays if v.status == "scheduled"), key=lambda v: _KIND_ORDER.get(v.kind, 9))
    if open_visits:
        return patient, open_visits[0], ""
    if any(v.status == "checked_in" for v in todays):
        return patient, None, f"{name} is already checked in."
    if any(v.status == "missed" for v in todays):
        return patient, None, f"{name}'s visit today was marked missed: use “Re-open (late arrival)” on their row."
    if todays:
        return patient, None, f"{name} has no open visit left today (already completed, excused or cancelled)."
    return patient, None, f"{name} has no visit today. Book one from the patient's page if they should be seen."


def _scan_redirect(clinic: Clinic) -> HttpResponse:
    return redirect(reverse("web:today", kwargs={"clinic_id": clinic.pk}) + "?" + urlencode({"scan": "1"}))


@staff_view
@require_POST
def scan_check_in(request: HttpRequest, clinic_id: int) -> HttpResponse:
    """Check-in by MRN: the front desk types or scans the number (a scanner types it and presses Enter)."""
    clinic = clinic_or_404(request.user, clinic_id)
    require(request.user, FRONT_DESK)
    typed = request.POST.get("mrn", "")[:100]
    mrn = typed.strip()
    if not mrn:
        return render_board(request, clinic, scan={"mrn": typed, "error": "Type or scan an MRN."}, status=400)
    patient, visit, why = _scan_target(clinic, mrn, selectors.clinic_today(clinic))
    if visit is None:
        status = 404 if patient is None else 409
        return render_board(request, clinic, scan={"mrn": typed, "error": why}, status=status)
    try:
        visit_check_in(visit=visit, by=request.user)
    except (RuleViolation, StateConflict) as exc:
        error = f"{_name(visit)} (MRN {visit.patient.mrn}) was not checked in: {exc.message}"
        return render_board(request, clinic, scan={"mrn": typed, "error": error}, status=exc.status_code)
    what = visit.get_kind_display().lower()
    messages.success(request, f"Checked in: {_name(visit)} (MRN {visit.patient.mrn}, {what}).")
    return _scan_redirect(clinic)
