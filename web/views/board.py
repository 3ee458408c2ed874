"""The today board: today's visits per window, live counts, check-in and completion."""

from __future__ import annotations

from collections import OrderedDict
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.dates import MONTHS
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from notifications.replanning import visit_excuse
from scheduler.errors import RuleViolation, StateConflict
from scheduler.models import Clinic, Patient
from scheduler.permissions import DOSING, FRONT_DESK, has_role
from visits.models import KIND_CHOICES, Visit
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


def render_board(
    request: HttpRequest,
    clinic: Clinic,
    *,
    row_errors: dict[int, str] | None = None,
    dose_errors: dict[int, str] | None = None,
    bottle_errors: dict[int, str] | None = None,
    typed: dict[int, dict[str, Any]] | None = None,
    scan: dict[str, str] | None = None,
    focus: int | None = None,
    status: int = 200,
) -> HttpResponse:
    """One page of the board; `row_errors` and `typed` put a refusal and what the user typed back on their row,
    shown on the page holding that row (or the `focus` visit's). Per-row work is for the page's rows only."""
    day = selectors.clinic_today(clinic)
    # The stamp of the day as the headings were read: shared verdicts and take-homes serve while nothing changed.
    slots, stamp = selectors.board_day(clinic=clinic, day=day)
    window_id, window_error = _chosen_window(request, slots)
    shown = sum(s.count for s in slots if window_id in (None, s.window_id))
    pages = max(1, -(-shown // selectors.BOARD_PAGE_SIZE))
    page, page_error = _chosen_page(request, pages)
    focus = focus or next(iter({**(typed or {}), **(row_errors or {}), **(dose_errors or {}),
                                **(bottle_errors or {})}), None)
    if focus is not None:
        page = selectors.board_page_of(clinic=clinic, day=day, visit_id=focus, window_id=window_id) or page
    visits = selectors.board_page(clinic=clinic, day=day, page=page, window_id=window_id)
    verdicts = (selectors.shared_verdicts(clinic=clinic, day=day, stamp=stamp)
                or selectors.page_verdicts(clinic=clinic, day=day, visits=visits, stamp=stamp))
    blockers = selectors.page_blockers(clinic=clinic, day=day, visits=visits, stamp=stamp, verdicts=verdicts)
    # The planned take-homes and the bottles are shown in the complete form alone: for those who give doses.
    dosing = has_role(request.user, DOSING)
    planned = selectors.planned_take_homes(clinic=clinic, visits=visits, stamp=stamp) if dosing else {}
    escalations = selectors.page_escalations(clinic=clinic, visits=visits, verdicts=verdicts)
    doses = selectors.board_doses(visits=visits, day=day)
    # Issue #14: the take-home bottles of each open dose row (the number typed back, else the planned number).
    bottles = selectors.take_home_bottles(counts={
        v: _bottle_count((typed or {}).get(v.pk, {}), planned.get(v.pk))
        for v in visits
        if v.kind == "dose" and v.plan_id is not None and v.status in ("scheduled", "checked_in")
    }) if dosing else {}
    facts = {"blockers": blockers, "planned": planned, "escalations": escalations, "doses": doses, "day": day,
             "front_desk": has_role(request.user, FRONT_DESK), "dosing": dosing,
             "bottles": bottles, "typed": typed or {}, "row_errors": row_errors or {},
             "dose_errors": dose_errors or {}, "bottle_errors": bottle_errors or {},
             # A row's form sent from a window's page comes back to that window (its handlers read ?window=).
             "back": f"?window={window_id}" if window_id is not None else ""}
    by_key = {s.key: s for s in slots}
    groups: OrderedDict[Any, dict[str, Any]] = OrderedDict()
    for visit in visits:
        slot = by_key[(visit.slot_start, visit.slot_end, visit.slot_id)]  # type: ignore[attr-defined]
        group = groups.setdefault(slot.key, {"label": slot.label, "count": slot.count, "rows": []})
        group["rows"].append(_row(visit, facts))
    scan_focus = bool(scan) or request.GET.get("scan") == "1"
    context = page_context(
        request,
        clinic,
        day=day,
        groups=list(groups.values()),
        counts=_page_counts(slots),
        scan=scan or {},
        scan_focus=scan_focus,
        nav_active="today",
        paging=_paging(clinic, page, pages, shown, window_id, scan_focus),
        windows=_window_links(clinic, slots, window_id, scan_focus),
        query_error=window_error or page_error,
    )
    if (window_error or page_error) and status == 200:
        status = 400
    return render(request, "web/today.html", context, status=status)


def _row(visit: Visit, facts: dict[str, Any]) -> dict[str, Any]:
    """What the template shows for one row, worked out here (plain values, the row's URLs)."""
    pk = visit.pk
    blockers, planned = facts["blockers"], facts["planned"]
    badge = selectors.board_state(visit, blockers)
    values = facts["typed"].get(pk, {})
    due = facts["doses"].get(pk)
    typed_bottles = values.get("bottles") or {}
    patient, plan = visit.patient, visit.plan
    status, front_desk, dosing = visit.status, facts["front_desk"], facts["dosing"]
    is_open = status in ("scheduled", "checked_in")
    return {
        "visit": visit,
        # Plain strings for what every row prints (a template resolves a dict key far faster than a model's
        # attribute, and an int is localised on each print): the same text as the fields rendered.
        "pk": str(pk),
        "status": visit.status,
        "kind": visit.kind,
        "kind_label": _KIND_LABELS.get(visit.kind, visit.kind),
        "has_plan": plan is not None,
        "medication_label": selectors.MEDICATION_LABELS.get(plan.medication, plan.medication) if plan else "",
        "first_name": patient.first_name,
        "last_name": patient.last_name,
        "mrn": patient.mrn,
        "born": _long_date(patient.date_of_birth) or "not recorded",
        "name": f"{patient.first_name} {patient.last_name}",
        "urls": _row_urls(visit, facts["back"]),
        "badge": badge,
        "badge_label": STATUS_BADGES.get(badge, visit.get_status_display()),
        "blocker": blockers.get(pk, ""),
        "escalations": facts["escalations"].get(visit.patient_id, []),
        "error": facts["row_errors"].get(pk, ""),
        "planned": planned.get(pk),
        "take_home_value": values.get("take_home_doses", planned.get(pk, 0)),
        "take_home_reason": values.get("take_home_reason", ""),
        "excuse_reason": values.get("excuse_reason", ""),
        "excuse_open": "excuse_reason" in values,
        # Issue #14: the amount due (the order in force that day) prefills the dose field.
        "due": due,
        "dose_value": values.get("dose_mg", mg_plain(due.amount) if due and due.amount is not None else ""),
        "dose_reason": values.get("dose_reason", ""),
        "dose_error": facts["dose_errors"].get(pk, ""),
        "bottles": [(b, typed_bottles.get(b.number, "")) for b in facts["bottles"].get(pk, [])],
        "bottle_error": facts["bottle_errors"].get(pk, ""),
        "bottles_given": _bottles_given(visit),
        "screen": bool(visit.drug_screen) or visit.kind == "callback",
        # What the row offers, decided here once (issue #16: a template's `and`/`or` of lookups, a dozen a row,
        # were a good part of the board's rendering); the template only asks.
        "is_dose": visit.kind == "dose",
        "given": status == "completed" and visit.dose_mg is not None,
        "take_homes_given": visit.take_home_doses if status == "completed" else None,
        "may_check_in": status == "scheduled" and front_desk,
        "may_complete": is_open and dosing,
        "may_record_cows": is_open and dosing and due is not None and due.offers_cows,
        "may_undo_check_in": status == "checked_in" and front_desk,
        "may_reopen": status == "missed" and visit.date == facts["day"] and front_desk,
        "may_excuse": (is_open or status == "missed") and front_desk,
    }


_KIND_LABELS = dict(KIND_CHOICES)  # what get_kind_display says (a plain string: no lookup through the field per row)


def _long_date(day: date | None) -> str:
    """What `date:"j F Y"` prints ("9 March 1980", the month's name translated as the filter's), "" for None."""
    return f"{day.day} {MONTHS[day.month]} {day.year}" if day is not None else ""


_PK = "2147483647"  # an id no row has: a row's URLs are these reversals with the row's own ids in its place


@cache
def _url_patterns() -> dict[str, str]:
    """Each row URL reversed once (a {% url %} a row and form cost more than the row's other work)."""
    kinds = ("check-in", "complete", "cows", "undo-check-in", "reopen", "excuse", "screen-result", "callback-bottles")
    patterns = {name: reverse(f"web:{name}", kwargs={"visit_id": int(_PK)}) for name in kinds}
    patterns["patient"] = reverse("web:patient", kwargs={"patient_id": int(_PK)})
    return patterns


def _row_urls(visit: Visit, back: str) -> dict[str, str]:
    """The row's links and form actions (`back` on the forms: the board's query to come back to)."""
    urls = {name.replace("-", "_"): url.replace(_PK, str(visit.pk)) + back for name, url in _url_patterns().items()}
    urls["patient"] = _url_patterns()["patient"].replace(_PK, str(visit.patient_id))
    urls["cows"] = _url_patterns()["cows"].replace(_PK, str(visit.pk))
    return urls


def _page_counts(slots: list[selectors.BoardSlot]) -> dict[str, int | None]:
    """The whole day's counts from board_slots' aggregate. Which scheduled rows are on hold or blocked is the
    guard's answer for every row of the day (the counts endpoint, which the page asks for as it loads): here all
    scheduled rows count as expected and those two are left open (None)."""
    counts = selectors.status_counts(slots)
    return {**counts, "expected": counts["scheduled"], "on_hold": None, "blocked": None}


def _chosen_window(request: HttpRequest, slots: list[selectors.BoardSlot]) -> tuple[int | None, str]:
    raw = request.GET.get("window", "").strip()
    if not raw:
        return None, ""
    ids = {s.window_id for s in slots if s.window_id is not None}
    if raw.isascii() and raw.isdigit() and int(raw) in ids:
        return int(raw), ""
    return None, "window: choose one of today's windows below (showing all windows)."


def _chosen_page(request: HttpRequest, pages: int) -> tuple[int, str]:
    raw = request.GET.get("page", "").strip()
    if not raw:
        return 1, ""
    if raw.isascii() and raw.isdigit() and int(raw) >= 1:
        return min(int(raw), pages), ""  # a page that emptied since its link was drawn shows the last one
    return 1, f"page: give a page number from 1 to {pages} (showing page 1)."


def _board_url(clinic: Clinic, *, page: int = 1, window_id: int | None = None, scan: bool = False) -> str:
    query = {k: v for k, v in (("window", window_id), ("page", page if page > 1 else None),
                               ("scan", 1 if scan else None)) if v is not None}
    url = reverse("web:today", kwargs={"clinic_id": clinic.pk})
    return url + ("?" + urlencode(query) if query else "")


def _paging(clinic: Clinic, page: int, pages: int, shown: int, window_id: int | None, scan: bool) -> dict[str, Any]:
    size = selectors.BOARD_PAGE_SIZE
    first = (page - 1) * size + 1 if shown else 0
    return {
        "page": page,
        "pages": pages,
        "size": size,
        "first": first,
        "last": min(page * size, shown),
        "rows": shown,
        "previous": _board_url(clinic, page=page - 1, window_id=window_id, scan=scan) if page > 1 else "",
        "next": _board_url(clinic, page=page + 1, window_id=window_id, scan=scan) if page < pages else "",
        "next_rows": min(size, shown - page * size),
    }


def _window_links(
    clinic: Clinic, slots: list[selectors.BoardSlot], window_id: int | None, scan: bool
) -> list[dict[str, Any]]:
    """The filter by window: all windows, then each window of the day with its rows (booked times have none)."""
    if not any(s.window_id for s in slots):
        return []
    links = [{"label": "All windows", "count": sum(s.count for s in slots), "current": window_id is None,
              "url": _board_url(clinic, scan=scan)}]
    links += [
        {"label": s.label, "count": s.count, "current": s.window_id == window_id,
         "url": _board_url(clinic, window_id=s.window_id, scan=scan)}
        for s in slots if s.window_id is not None
    ]
    return links


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


def _back_to_board(visit: Visit, window: str = "") -> HttpResponse:
    """To the row on the board: the page holding it (in the window the form was sent from, if any)."""
    clinic = visit.clinic
    window_id = int(window) if window.isascii() and window.isdigit() else None
    day = selectors.clinic_today(clinic)
    page = selectors.board_page_of(clinic=clinic, day=day, visit_id=visit.pk, window_id=window_id)
    if page is None and window_id is not None:
        window_id = None
        page = selectors.board_page_of(clinic=clinic, day=day, visit_id=visit.pk)
    return redirect(_board_url(clinic, page=page or 1, window_id=window_id) + f"#visit-{visit.pk}")


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
    return _back_to_board(visit, request.GET.get("window", ""))


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
    return _back_to_board(visit, request.GET.get("window", ""))


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
    return _back_to_board(visit, request.GET.get("window", ""))


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
    return _back_to_board(visit, request.GET.get("window", ""))


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
    return _back_to_board(visit, request.GET.get("window", ""))


# A plan's dose or injection is what the front desk scans a patient in for; other visits come after it.
_KIND_ORDER = {"dose": 0, "injection": 1}


def _scan_target(clinic: Clinic, mrn: str, day: date) -> tuple[Patient | None, Visit | None, str, int | None]:
    """The patient with exactly this MRN at this clinic and their open visit today, or why there is none (and
    which of their rows today the board should show with it)."""
    patient = Patient.objects.filter(clinic=clinic, mrn=mrn).first()
    if patient is None:
        why = f"No patient with MRN {mrn} at {clinic.name}. Check the number, or find the patient by name."
        return None, None, why, None
    name = f"{patient.first_name} {patient.last_name} (MRN {patient.mrn})"
    todays = list(
        Visit.objects.filter(clinic=clinic, patient=patient, date=day)
        .select_related("clinic", "patient", "plan", "window")
        .order_by("start", "id")
    )
    open_visits = sorted((v for v in todays if v.status == "scheduled"), key=lambda v: _KIND_ORDER.get(v.kind, 9))
    if open_visits:
        return patient, open_visits[0], "", open_visits[0].pk
    row = next((v.pk for v in todays if v.status != "cancelled"), None)
    if any(v.status == "checked_in" for v in todays):
        return patient, None, f"{name} is already checked in.", row
    if any(v.status == "missed" for v in todays):
        why = f"{name}'s visit today was marked missed: use “Re-open (late arrival)” on their row."
        return patient, None, why, next(v.pk for v in todays if v.status == "missed")
    if todays:
        return patient, None, f"{name} has no open visit left today (already completed, excused or cancelled).", row
    return patient, None, f"{name} has no visit today. Book one from the patient's page if they should be seen.", None


def _scan_redirect(visit: Visit) -> HttpResponse:
    """To the page holding the row just checked in, the MRN field focused for the next scan."""
    clinic = visit.clinic
    page = selectors.board_page_of(clinic=clinic, day=selectors.clinic_today(clinic), visit_id=visit.pk)
    return redirect(_board_url(clinic, page=page or 1, scan=True))


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
    patient, visit, why, row = _scan_target(clinic, mrn, selectors.clinic_today(clinic))
    if visit is None:
        status = 404 if patient is None else 409
        return render_board(request, clinic, scan={"mrn": typed, "error": why}, focus=row, status=status)
    try:
        visit_check_in(visit=visit, by=request.user)
    except (RuleViolation, StateConflict) as exc:
        error = f"{_name(visit)} (MRN {visit.patient.mrn}) was not checked in: {exc.message}"
        return render_board(request, clinic, scan={"mrn": typed, "error": error}, focus=visit.pk,
                            status=exc.status_code)
    what = visit.get_kind_display().lower()
    messages.success(request, f"Checked in: {_name(visit)} (MRN {visit.patient.mrn}, {what}).")
    return _scan_redirect(visit)
