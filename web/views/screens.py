"""Issue #15 on the today board: a drug screen's result and a call-back's bottle count, recorded on the visit's row.

Pages call services (STYLE.md): the result goes through visits.screening.drug_screen_record, the count through
notifications.replanning.callback_bottles_record (a short count suspends take-homes, so the calendar follows).
The forms are web/templates/web/_screen_form.html, included once in today.html.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from notifications.replanning import callback_bottles_record
from scheduler.errors import RuleViolation, StateConflict
from scheduler.permissions import DOSING, FRONT_DESK
from visits.screening import drug_screen_record
from web.access import require, staff_view, visit_or_404
from web.views.board import _back_to_board, render_board

RESULT_WORDS = {
    "negative": "negative",
    "positive": "positive",
    "refused": "refused (counts as positive)",
    "invalid": "invalid sample",
}


@staff_view
@require_POST
def screen_result(request: HttpRequest, visit_id: int) -> HttpResponse:
    visit = visit_or_404(request.user, visit_id)
    require(request.user, DOSING)
    result = request.POST.get("result", "")[:20]
    substances = [s.strip() for s in request.POST.get("substances", "")[:900].split(",") if s.strip()]
    try:
        drug_screen_record(visit=visit, result=result, substances=substances, by=request.user)
    except (RuleViolation, StateConflict) as exc:
        return render_board(request, visit.clinic, row_errors={visit.pk: exc.message}, status=exc.status_code)
    name = f"{visit.patient.first_name} {visit.patient.last_name}"
    messages.success(request, f"Drug screen recorded for {name}: {RESULT_WORDS.get(result, result)}.")
    return _back_to_board(visit)


@staff_view
@require_POST
def callback_bottles(request: HttpRequest, visit_id: int) -> HttpResponse:
    visit = visit_or_404(request.user, visit_id)
    require(request.user, FRONT_DESK)
    raw = request.POST.get("bottles_brought", "").strip()[:4]
    if not (raw.isascii() and raw.isdigit()):
        return render_board(
            request, visit.clinic, row_errors={visit.pk: "Bottles brought: a whole number from 0 to 99."}, status=400
        )
    try:
        visit = callback_bottles_record(visit=visit, bottles_brought=int(raw), by=request.user)
    except (RuleViolation, StateConflict) as exc:
        return render_board(request, visit.clinic, row_errors={visit.pk: exc.message}, status=exc.status_code)
    name = f"{visit.patient.first_name} {visit.patient.last_name}"
    brought, handed = visit.callback_bottles_brought, visit.callback_bottles_handed_out
    if handed is not None and brought is not None and brought < handed:
        messages.warning(
            request, f"Call-back for {name}: {brought} of {handed} bottles brought. A clinician is asked to review; "
            "take-homes are suspended until then.",
        )
    else:
        messages.success(request, f"Call-back for {name}: {brought} of {handed} bottles brought.")
    return _back_to_board(visit)
