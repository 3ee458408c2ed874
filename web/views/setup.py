"""Clinic setup without Django admin (whose links only superusers see). Admins: windows, closures, public
holidays, the rule set (with a preview), reminder texts and periodic jobs (last run, next run, last error, pause).
Clinicians: the same page with the rule-set section only (editor and preview); other roles 403."""

from __future__ import annotations

import json
import re
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_celery_beat.models import PeriodicTask

from notifications.models import JobRun, MessageTemplate
from notifications.privacy import ForbiddenContent
from notifications.rendering import PLACEHOLDERS, format_date, format_time
from notifications.rendering import render as render_text
from notifications.replanning import (
    closure_create,
    closure_delete,
    holidays_import,
    rule_set_update,
    window_create,
    window_delete,
)
from scheduler import engine
from scheduler.errors import RuleViolation, StateConflict
from scheduler.models import Clinic, Closure, DosingWindow
from scheduler.permissions import ADMIN, CLINICAL, has_role
from scheduler.rules import Rules
from scheduler.selectors import active_plans, calendar_for_clinic, pauses_by_plan, plan_spec, rules_for_clinic
from scheduler.services import WindowInput
from visits.reports import closure_affected_visits
from web import selectors
from web.access import clinic_or_404, require, staff_view
from web.forms import WEEKDAY_CHOICES, ClosureForm, HolidayImportForm, WindowForm
from web.views.common import page_context


def _admin_clinic(request: HttpRequest, clinic_id: int) -> Clinic:
    clinic = clinic_or_404(request.user, clinic_id)
    require(request.user, ADMIN)
    return clinic


def _rules_clinic(request: HttpRequest, clinic_id: int) -> Clinic:
    """The rule set (its editor and preview) is for clinicians and admins; the rest of setup for admins."""
    clinic = clinic_or_404(request.user, clinic_id)
    require(request.user, CLINICAL)
    return clinic


def _admin_url(name: str, *args: object) -> str:
    """Admin link if that model is registered in the admin (another app's choice), else empty."""
    try:
        return reverse(f"admin:{name}", args=args)
    except NoReverseMatch:
        return ""


def _admin_urls(clinic: Clinic) -> dict[str, str]:
    return {
        "clinic": _admin_url("scheduler_clinic_change", clinic.pk),
        "rule_set": _admin_url("scheduler_ruleset_change", clinic.rule_set_id) if clinic.rule_set_id else "",
        "rule_sets": _admin_url("scheduler_ruleset_changelist"),
        "templates": _admin_url("notifications_messagetemplate_changelist"),
    }


def _stored_rules(clinic: Clinic) -> dict[str, Any]:
    rules = _rules_or_none(clinic)
    if rules is not None:
        return rules.to_dict()
    return dict(clinic.rule_set.rules) if clinic.rule_set else {}


def _rules_or_none(clinic: Clinic) -> Rules | None:
    try:
        return rules_for_clinic(clinic)
    except (ValueError, TypeError, KeyError):
        return None  # a broken rule set still lets the admin reach the page and its admin link


# --- the rule-set editor ---------------------------------------------------------------------------

PREVIEW_DAYS = 28
LADDER_LABELS = {
    "checkin_text": "Check-in text",
    "outreach": "Outreach call",
    "hold": "Hold dosing",
    "clinician_review": "Clinician review",
    "reinduction": "Re-induction",
}
# (field, label, minimum; None: may be left empty)
RULE_NUMBERS: tuple[tuple[str, str, int | None], ...] = (
    ("reminders_max_per_day", "Reminders per day at most", 0),
    ("reminders_max_per_week", "Reminders per week at most", 0),
    ("sms_max_chars", "Characters per text at most", 1),
    ("takehome_review_days", "Take-home review at least every (days)", 1),
    ("guest_dosing_notice_hours", "Guest dosing notice (hours)", 0),
    ("buprenorphine_daily_max_mg", "Buprenorphine daily maximum (mg)", 1),
    ("methadone_first_dose_max_mg", "Methadone first dose maximum (mg)", 1),
    ("methadone_first_day_max_mg", "Methadone first day maximum (mg)", 1),
    ("methadone_induction_days", "Methadone induction period (days)", 1),
    ("methadone_induction_step_max_mg", "Methadone induction step at most (mg)", 1),
    ("methadone_induction_step_min_days", "Methadone induction days between steps at least", 1),
    ("diamorphine_session_max_mg", "Diamorphine per session maximum (mg)", 1),
    ("diamorphine_daily_max_mg", "Diamorphine daily maximum (mg)", 1),
    ("naltrexone_opioid_free_days", "Opioid-free days before naltrexone", 1),
    ("buprenorphine_induction_cows_min", "Buprenorphine induction: COWS score at least (empty: off)", None),
)
_WHOLE = re.compile(r"-?\d+")
_ERROR_FIELD = re.compile(r"^(?P<field>[\w\[\].]+):\s*(?P<text>.*)$", re.DOTALL)


def _number(raw: str) -> int | str | None:
    """A typed count: a whole number, or the text as typed so Rules.from_dict names the field and the value."""
    raw = raw.strip()
    if not raw:
        return None
    return int(raw) if _WHOLE.fullmatch(raw) else raw


def _tier_rows(post: Any) -> list[int]:
    return sorted({int(k.split("-")[1]) for k in post if re.fullmatch(r"tier-\d+-\w+", k)})


def _rules_from_post(current: dict[str, Any], post: Any) -> tuple[dict[str, Any], list[int]]:
    """The rule set as typed: the current rules with the form's fields put in. Returns the tier rows used, so an
    error on takehome_tiers[i] finds its row again (empty rows are left out)."""
    rules = dict(current)
    tiers, rows = [], []
    for row in _tier_rows(post):
        values = {f: post.get(f"tier-{row}-{f}", "") for f in ("from_day", "max_supply", "max_per_week")}
        if not any(v.strip() for v in values.values()):
            continue
        tiers.append({f: _number(v) for f, v in values.items()})
        rows.append(row)
    rules["takehome_tiers"] = tiers
    rules["ladder"] = {step: _number(post.get(f"ladder-{step}", "")) for step in LADDER_LABELS}
    for name in ("quiet_hours_start", "quiet_hours_end"):
        rules[name] = post.get(name, "").strip()
    for name, _label, _minimum in RULE_NUMBERS:
        rules[name] = _number(post.get(name, ""))
    rules["privacy_words"] = [w.strip() for w in re.split(r"[\n,]", post.get("privacy_words", "")) if w.strip()]
    return rules, rows


def _error_key(message: str, rows: list[int]) -> tuple[str, str]:
    """Which form field a Rules.from_dict message is about, and its text."""
    match = _ERROR_FIELD.match(message)
    if not match:
        return "__all__", message
    field, text = match["field"], match["text"]
    tier = re.fullmatch(r"takehome_tiers\[(\d+)\]\.(\w+)", field)
    if tier and int(tier[1]) < len(rows):
        return f"tier-{rows[int(tier[1])]}-{tier[2]}", text
    if field.startswith("takehome_tiers"):
        return "takehome_tiers", text
    if field.startswith("ladder."):
        return f"ladder-{field.removeprefix('ladder.')}", text
    if field.startswith("privacy_words"):
        return "privacy_words", f"{field}: {text}" if "[" in field else text
    return field, text


def _shown(value: Any) -> str:
    return "" if value is None else str(value)


def _rule_editor(rules: dict[str, Any], errors: dict[str, str], typed: Any = None) -> dict[str, Any]:
    """Field descriptors for the template: values as typed (or stored) and each field's error beside it."""

    def value(name: str, stored: Any) -> str:
        return typed.get(name, "") if typed is not None else _shown(stored)

    tiers = list(rules.get("takehome_tiers") or [])
    rows = _tier_rows(typed) if typed is not None else list(range(len(tiers) + 1))
    if typed is not None and rows:
        rows.append(max(rows) + 1)
    tier_rows = []
    for row in rows or [0]:
        stored = tiers[row] if typed is None and row < len(tiers) else {}
        tier_rows.append(
            {
                "row": row,
                "fields": [
                    {
                        "name": f"tier-{row}-{f}",
                        "label": label,
                        "value": value(f"tier-{row}-{f}", stored.get(f)),
                        "error": errors.get(f"tier-{row}-{f}", ""),
                    }
                    for f, label in (
                        ("from_day", "From treatment day"),
                        ("max_supply", "Largest supply (days)"),
                        ("max_per_week", "Per week at most"),
                    )
                ],
            }
        )
    ladder = rules.get("ladder") or {}
    words = rules.get("privacy_words") or []
    return {
        "tiers": tier_rows,
        "tiers_error": errors.get("takehome_tiers", ""),
        "ladder": [
            {
                "name": f"ladder-{s}",
                "label": label,
                "value": value(f"ladder-{s}", ladder.get(s)),
                "error": errors.get(f"ladder-{s}", ""),
            }
            for s, label in LADDER_LABELS.items()
        ],
        "quiet": [
            {"name": n, "label": label, "value": value(n, rules.get(n)), "error": errors.get(n, "")}
            for n, label in (("quiet_hours_start", "Texts from"), ("quiet_hours_end", "Texts until"))
        ],
        "numbers": [
            {
                "name": n,
                "label": label,
                "min": minimum if minimum is not None else 1,
                "value": value(n, rules.get(n)),
                "error": errors.get(n, ""),
            }
            for n, label, minimum in RULE_NUMBERS
        ],
        "privacy_words": value("privacy_words", "\n".join(words)) if typed is not None else "\n".join(words),
        "privacy_error": errors.get("privacy_words", ""),
        "error": errors.get("__all__", "")
        or next(
            (
                f"{k}: {v}"
                for k, v in errors.items()
                if k not in _EDITOR_KEYS and not k.startswith(("tier-", "ladder-"))
            ),
            "",
        ),
    }


_EDITOR_KEYS = frozenset(
    {"takehome_tiers", "privacy_words", "quiet_hours_start", "quiet_hours_end", "__all__"}
    | {n for n, _l, _m in RULE_NUMBERS}
)


@dataclass(frozen=True)
class RulePreview:
    patients: int
    plans: int
    failed: int
    days: int = PREVIEW_DAYS


def _rules_preview(clinic: Clinic, old: Rules, new: Rules) -> RulePreview:
    """Patients whose next 28 days differ under the new rules. Bounded: the clinic's active plans × 28 days, one
    query for the plans and one for their pauses."""
    first = selectors.clinic_today(clinic)
    last = first + timedelta(days=PREVIEW_DAYS - 1)
    plans = list(active_plans(clinic_ids=[clinic.pk], on=first))
    pauses = pauses_by_plan(p.pk for p in plans)
    calendar = calendar_for_clinic(clinic)
    changed: set[int] = set()
    failed = 0
    for plan in plans:
        spec = plan_spec(plan, pauses=pauses.get(plan.pk, []))
        try:
            before = engine.plan_days(spec, calendar, old, first, last)
        except (RuleViolation, ValueError):
            before = None
        try:
            after = engine.plan_days(spec, calendar, new, first, last)
        except (RuleViolation, ValueError):
            failed += 1  # a plan the new rules refuse changes too: counted, and said
            changed.add(plan.patient_id)
            continue
        if before != after:
            changed.add(plan.patient_id)
    return RulePreview(patients=len(changed), plans=len(plans), failed=failed)


def render_setup(
    request: HttpRequest,
    clinic: Clinic,
    *,
    window_form: WindowForm | None = None,
    closure_form: ClosureForm | None = None,
    error: str = "",
    status: int = 200,
    editor: dict[str, Any] | None = None,
    preview: RulePreview | None = None,
) -> HttpResponse:
    everything = has_role(request.user, ADMIN)  # a clinician sees the rule-set section only
    today = selectors.clinic_today(clinic)
    days = dict(WEEKDAY_CHOICES)
    windows = (
        [
            {"w": w, "days": ", ".join(days[d] for d in sorted(w.weekdays)), "services": ", ".join(w.services)}
            for w in DosingWindow.objects.filter(clinic=clinic).order_by("start", "id")
        ]
        if everything
        else []
    )
    context = page_context(
        request,
        clinic,
        nav_active="setup",
        everything=everything,
        windows=windows,
        closures=(
            list(Closure.objects.filter(clinic=clinic, date__gte=today).order_by("date", "id")[:100])
            if everything
            else []
        ),
        window_form=window_form or WindowForm(),
        closure_form=closure_form or ClosureForm(),
        holiday_form=HolidayImportForm(initial={"year": today.year}),
        rules=_rules_or_none(clinic),
        rules_json=json.dumps(clinic.rule_set.rules, indent=2, sort_keys=True) if clinic.rule_set else "",
        templates=(
            list(
                MessageTemplate.objects.filter(Q(clinic=clinic) | Q(clinic__isnull=True)).order_by(
                    "purpose", "language", "clinic_id"
                )
            )
            if everything
            else []
        ),
        error=error,
        admin_urls=_admin_urls(clinic) if request.user.is_superuser else {},
        editor=editor or _rule_editor(_stored_rules(clinic), {}),
        jobs=_jobs() if everything else [],
        preview=preview,
    )
    return render(request, "web/setup.html", context, status=status)


@staff_view
@require_GET
def setup(request: HttpRequest, clinic_id: int) -> HttpResponse:
    return render_setup(request, _rules_clinic(request, clinic_id))


def _refused(request: HttpRequest, clinic: Clinic, exc: RuleViolation | StateConflict, **forms: Any) -> HttpResponse:
    return render_setup(request, clinic, error=exc.message, status=exc.status_code, **forms)


@staff_view
@require_POST
def window_add(request: HttpRequest, clinic_id: int) -> HttpResponse:
    clinic = _admin_clinic(request, clinic_id)
    form = WindowForm(request.POST)
    if not form.is_valid():
        return render_setup(request, clinic, window_form=form, status=400)
    value = WindowInput(**form.cleaned_data)
    try:
        window = window_create(clinic=clinic, value=value)
    except (RuleViolation, StateConflict) as exc:
        return _refused(request, clinic, exc, window_form=form)
    messages.success(request, f"Added the window {window.start:%H:%M}–{window.end:%H:%M}.")
    return redirect("web:setup", clinic_id=clinic.pk)


@staff_view
@require_POST
def window_remove(request: HttpRequest, clinic_id: int, window_id: int) -> HttpResponse:
    clinic = _admin_clinic(request, clinic_id)
    window = get_object_or_404(DosingWindow, clinic=clinic, pk=window_id)
    try:
        window_delete(window=window)
    except (RuleViolation, StateConflict) as exc:
        return _refused(request, clinic, exc)
    messages.success(request, f"Deleted the window {window.start:%H:%M}–{window.end:%H:%M}.")
    return redirect("web:setup", clinic_id=clinic.pk)


@staff_view
@require_POST
def closure_add(request: HttpRequest, clinic_id: int) -> HttpResponse:
    clinic = _admin_clinic(request, clinic_id)
    form = ClosureForm(request.POST)
    if not form.is_valid():
        return render_setup(request, clinic, closure_form=form, status=400)
    data = form.cleaned_data
    affected = closure_affected_visits(clinic=clinic, day=data["date"], services=data["services"])
    try:
        closure = closure_create(clinic=clinic, **data)
    except (RuleViolation, StateConflict) as exc:
        return _refused(request, clinic, exc, closure_form=form)
    messages.success(request, f"Added the closure on {closure.date.isoformat()}.")
    if data["confirm_past"] and affected:
        # The visits of a past date stay as they were: the admin decides what each one needs.
        listed = ", ".join(f"#{v['id']} ({v['kind']}, {v['status']})" for v in affected[:50])
        more = f" and {len(affected) - 50} more" if len(affected) > 50 else ""
        messages.warning(request, f"{len(affected)} visits on that date are affected: {listed}{more}.")
    return redirect("web:setup", clinic_id=clinic.pk)


@staff_view
@require_POST
def closure_remove(request: HttpRequest, clinic_id: int, closure_id: int) -> HttpResponse:
    clinic = _admin_clinic(request, clinic_id)
    closure = get_object_or_404(Closure, clinic=clinic, pk=closure_id)
    closure_delete(closure=closure)
    messages.success(request, f"Deleted the closure on {closure.date.isoformat()}.")
    return redirect("web:setup", clinic_id=clinic.pk)


@staff_view
@require_POST
def holidays(request: HttpRequest, clinic_id: int) -> HttpResponse:
    clinic = _admin_clinic(request, clinic_id)
    form = HolidayImportForm(request.POST)
    if not form.is_valid():
        return render_setup(request, clinic, error="Give a year between 2000 and 2100.", status=400)
    services: list[str] | None = [] if form.cleaned_data["whole_clinic"] else None
    kwargs = {"services": services} if services is not None else {}
    try:
        result = holidays_import(clinic=clinic, year=form.cleaned_data["year"], **kwargs)
    except (RuleViolation, StateConflict) as exc:
        return _refused(request, clinic, exc)
    messages.success(
        request,
        f"Imported {len(result.created)} public holidays for {form.cleaned_data['year']} "
        f"({len(result.existing)} already there).",
    )
    for reason in result.refused:
        messages.warning(request, reason)
    return redirect("web:setup", clinic_id=clinic.pk)


@staff_view
@require_POST
def rules_edit(request: HttpRequest, clinic_id: int) -> HttpResponse:
    """Preview (how many patients' next 28 days change) or save the typed rule set; errors beside the field.
    Clinicians and admins."""
    clinic = _rules_clinic(request, clinic_id)
    current = _stored_rules(clinic)
    typed, rows = _rules_from_post(current, request.POST)
    try:
        new = Rules.from_dict(typed)
    except (ValueError, TypeError) as exc:
        key, text = _error_key(str(exc), rows)
        editor = _rule_editor(typed, {key: text}, request.POST)
        return render_setup(request, clinic, editor=editor, status=400)
    if request.POST.get("action") != "save":
        old = _rules_or_none(clinic) or new
        preview = _rules_preview(clinic, old, new)
        return render_setup(request, clinic, editor=_rule_editor(typed, {}, request.POST), preview=preview)
    try:
        rule_set_update(clinic=clinic, rules=new.to_dict(), by=request.user)
    except (RuleViolation, StateConflict) as exc:
        return render_setup(
            request, clinic, editor=_rule_editor(typed, {}, request.POST), error=exc.message, status=exc.status_code
        )
    messages.success(request, "Saved the rule set; future visits follow the new rules.")
    return redirect("web:setup", clinic_id=clinic.pk)


# --- reminder templates ----------------------------------------------------------------------------

SAMPLE_FIRST_NAME = "A."


def _sample_values(clinic: Clinic, language: str) -> dict[str, str]:
    """A sample patient "A." with a visit tomorrow at 08:30 in the clinic's zone: what a real text would carry."""
    day = selectors.clinic_today(clinic) + timedelta(days=1)
    local = datetime.combine(day, time(8, 30), tzinfo=zoneinfo.ZoneInfo(clinic.timezone))
    return {
        "first_name": SAMPLE_FIRST_NAME,
        "initials": SAMPLE_FIRST_NAME,
        "clinic": clinic.sms_name,
        "phone": clinic.phone,
        "date": format_date(day, language),
        "time": format_time(local, language),
    }


def _template_preview(clinic: Clinic, body: str, language: str) -> tuple[str, str]:
    """(the rendered text, "") or ("", why it is refused): the same render and privacy check a real text gets."""
    rules = _rules_or_none(clinic)
    max_chars = rules.sms_max_chars if rules else 160
    words = rules.privacy_extra if rules else ()
    try:
        return render_text(body, _sample_values(clinic, language), max_chars=max_chars, extra_words=words), ""
    except ForbiddenContent as exc:
        return "", f"Refused: the word “{exc.word}” (in the {exc.where}) may tell someone the patient is in treatment."
    except ValueError as exc:  # MessageTooLong, an unknown placeholder
        return "", f"Refused: {exc}."


@transaction.atomic
def _template_save(*, clinic: Clinic, source: MessageTemplate, body: str) -> MessageTemplate:
    """The clinic's own template for that purpose and language: a shipped default is overridden, never edited."""
    if source.clinic_id == clinic.pk:
        source.body = body
        source.save(update_fields=["body"])
        return source
    own, created = MessageTemplate.objects.select_for_update().get_or_create(
        clinic=clinic, purpose=source.purpose, language=source.language, defaults={"body": body}
    )
    if not created:
        own.body = body
        own.save(update_fields=["body"])
    return own


def _clinic_template(clinic: Clinic, template_id: int) -> MessageTemplate:
    return get_object_or_404(MessageTemplate.objects.filter(Q(clinic=clinic) | Q(clinic__isnull=True)), pk=template_id)


@staff_view
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, clinic_id: int, template_id: int) -> HttpResponse:
    """Edit a reminder template with a server-rendered preview (sample patient "A.") and the privacy check."""
    clinic = _admin_clinic(request, clinic_id)
    template = _clinic_template(clinic, template_id)
    body = request.POST.get("body", template.body).strip() if request.method == "POST" else template.body
    text, refusal = _template_preview(clinic, body, template.language) if body else ("", "Write the text.")
    status = 200
    if request.method == "POST" and request.POST.get("action") == "save":
        if not refusal:
            saved = _template_save(clinic=clinic, source=template, body=body)
            messages.success(request, f"Saved the {saved.get_purpose_display().lower()} text ({saved.language}).")
            return redirect("web:setup", clinic_id=clinic.pk)
        status = 400
    context = page_context(
        request,
        clinic,
        nav_active="setup",
        template=template,
        body=body,
        preview_text=text,
        refusal=refusal,
        placeholders=sorted(PLACEHOLDERS),
    )
    return render(request, "web/setup_template.html", context, status=status)


# --- periodic jobs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobRow:
    task: PeriodicTask
    every: str
    last_run: datetime | None
    next_run: datetime | None
    last_error_at: datetime | None = None
    last_error: str = ""
    succeeded_since: bool = False  # a success recorded after the last error


def _next_run(task: PeriodicTask, now: datetime) -> datetime | None:
    """When beat will next run it, from its schedule and last run; None when paused or not computable."""
    if not task.enabled:
        return None
    try:
        remaining = task.schedule.remaining_estimate(task.last_run_at or now)
    except (AttributeError, TypeError, ValueError):
        return None
    return now + max(remaining, timedelta(0))


def _jobs() -> list[JobRow]:
    now = timezone.now()
    tasks = list(
        PeriodicTask.objects.select_related("interval", "crontab", "solar", "clocked").order_by("name")[:200]
    )
    # The outcomes the Celery signals recorded (notifications.jobruns), in one query.
    runs = {r.name: r for r in JobRun.objects.filter(name__in=[t.name for t in tasks])} if tasks else {}
    rows = []
    for task in tasks:
        run = runs.get(task.name)
        failed_at = run.last_failure_at if run else None
        rows.append(
            JobRow(
                task=task,
                every=str(task.interval or task.crontab or task.solar or task.clocked or ""),
                last_run=task.last_run_at,
                next_run=_next_run(task, now),
                last_error_at=failed_at,
                last_error=run.last_error if run and failed_at else "",
                succeeded_since=bool(run and failed_at and run.last_success_at and run.last_success_at > failed_at),
            )
        )
    return rows


def periodic_task_set_enabled(*, task: PeriodicTask, enabled: bool) -> PeriodicTask:
    """Pause or resume a beat job. save(update_fields) (not .update()) so django-celery-beat's signal tells the
    running scheduler its schedule changed; the last run is kept on the row."""
    if task.enabled != enabled:
        task.enabled = enabled
        task.save(update_fields=["enabled"])
    return task


@staff_view
@require_POST
def job_toggle(request: HttpRequest, clinic_id: int, task_id: int) -> HttpResponse:
    clinic = _admin_clinic(request, clinic_id)
    task = get_object_or_404(PeriodicTask, pk=task_id)
    enabled = request.POST.get("enabled") == "on"
    periodic_task_set_enabled(task=task, enabled=enabled)
    messages.success(request, f"{'Resumed' if enabled else 'Paused'} the job “{task.name}”.")
    return redirect(f"{reverse('web:setup', kwargs={'clinic_id': clinic.pk})}#jobs-title")
