"""Django admin for the scheduler: presets read-only, holiday import, patient reads audited."""

from __future__ import annotations

from typing import Any

from auditlog.signals import accessed
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone

from notifications import replanning
from scheduler.errors import RuleViolation, StateConflict
from scheduler.models import Clinic, Closure, DosingWindow, Patient, Pause, Plan, RuleSet, StaffProfile

REFUSED_FORM_NOTE = "Nothing was saved: see the message above. Your changes are still in the form."


class RefusalsShown(admin.ModelAdmin):
    """A save that replanning refuses (StateConflict 409: "No room for this plan …"; RuleViolation 400) is no
    server error: changeform_view's own transaction has rolled everything back, the admin sees the rule as a
    message and the form again with what they typed (STYLE.md), marked invalid so nothing is saved."""

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (RuleViolation, StateConflict) as exc:
            if request.method != "POST":
                raise
            self.message_user(request, exc.message, messages.ERROR)
            request._dosewise_refused = True  # type: ignore[attr-defined]
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if not getattr(request, "_dosewise_refused", False):
            return form

        class Refused(form):  # type: ignore[valid-type,misc]
            def clean(self) -> Any:
                super().clean()
                raise forms.ValidationError(REFUSED_FORM_NOTE, code="refused")

        return Refused

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except (RuleViolation, StateConflict) as exc:  # delete_view's transaction rolled the deletion back
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.path)

    def response_action(self, request: HttpRequest, queryset: QuerySet[Any], *args: Any, **kwargs: Any) -> Any:
        """Bulk actions (delete_selected) run in one transaction, so a refusal leaves nothing half done."""
        try:
            with transaction.atomic():
                return super().response_action(request, queryset, *args, **kwargs)
        except (RuleViolation, StateConflict) as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class ClinicActionForm(ActionForm):
    clinic = forms.ModelChoiceField(Clinic.objects.order_by("name"), required=False, help_text="For preset copies")


@admin.register(RuleSet)
class RuleSetAdmin(RefusalsShown):
    list_display = ("name", "is_preset", "updated")
    list_filter = ("is_preset",)
    search_fields = ("name",)
    action_form = ClinicActionForm
    actions = ["copy_preset_for_clinic"]

    def has_change_permission(self, request: HttpRequest, obj: RuleSet | None = None) -> bool:
        # Presets are read-only templates: a clinic edits its own copy.
        if obj is not None and obj.is_preset:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: RuleSet | None = None) -> bool:
        if obj is not None and obj.is_preset:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: RuleSet, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        for clinic in obj.clinics.all():
            replanning.clinic_changed(clinic=clinic)

    @admin.action(description="Copy preset for a clinic (choose the clinic above)")
    def copy_preset_for_clinic(self, request: HttpRequest, queryset: QuerySet[RuleSet]) -> None:
        clinic_id = request.POST.get("clinic", "")
        clinic = Clinic.objects.filter(pk=int(clinic_id)).first() if clinic_id.isdigit() else None
        presets = list(queryset.filter(is_preset=True))
        if clinic is None or len(presets) != 1:
            self.message_user(request, "Select exactly one preset and choose a clinic.", messages.ERROR)
            return
        rule_set = replanning.rule_set_copy_preset(preset_name=presets[0].name, clinic=clinic)
        self.message_user(request, f"{clinic} now uses its own copy “{rule_set.name}”.", messages.SUCCESS)


class WindowInline(admin.TabularInline):
    model = DosingWindow
    extra = 0
    fields = ("weekdays", "start", "end", "services", "capacity", "stations", "minutes_per_visit")


@admin.register(Clinic)
class ClinicAdmin(RefusalsShown):
    list_display = ("name", "timezone", "country", "subdivision", "rule_set")
    search_fields = ("name", "sms_name")
    inlines = [WindowInline]
    actions = ["import_holidays_this_year", "import_holidays_next_year"]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        replanning.clinic_changed(clinic=form.instance)

    def _import(self, request: HttpRequest, queryset: QuerySet[Clinic], year: int) -> None:
        for clinic in queryset:
            try:
                result = replanning.holidays_import(clinic=clinic, year=year)
            except (RuleViolation, StateConflict) as exc:
                self.message_user(request, f"{clinic}: {exc}", messages.ERROR)
                continue
            self.message_user(
                request,
                f"{clinic}: {len(result.created)} holiday closures (oral services) added for {year}, "
                f"{len(result.existing)} already there.",
                messages.SUCCESS,
            )
            for refusal in result.refused:
                self.message_user(request, f"{clinic}: {refusal}", messages.WARNING)

    @admin.action(description="Import public holidays for this year (oral dosing closed)")
    def import_holidays_this_year(self, request: HttpRequest, queryset: QuerySet[Clinic]) -> None:
        self._import(request, queryset, timezone.now().year)

    @admin.action(description="Import public holidays for next year (oral dosing closed)")
    def import_holidays_next_year(self, request: HttpRequest, queryset: QuerySet[Clinic]) -> None:
        self._import(request, queryset, timezone.now().year + 1)


class RegeneratesClinic(RefusalsShown):
    """Window and closure edits move visits: regenerate the clinic after each change."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        replanning.clinic_changed(clinic=obj.clinic)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        clinic = obj.clinic
        super().delete_model(request, obj)
        replanning.clinic_changed(clinic=clinic)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        clinics = list(Clinic.objects.filter(pk__in=queryset.values("clinic_id")))
        super().delete_queryset(request, queryset)
        for clinic in clinics:
            replanning.clinic_changed(clinic=clinic)


@admin.register(DosingWindow)
class DosingWindowAdmin(RegeneratesClinic):
    list_display = ("clinic", "start", "end", "weekdays", "services", "capacity")
    list_filter = ("clinic",)


@admin.register(Closure)
class ClosureAdmin(RegeneratesClinic):
    list_display = ("clinic", "date", "reason", "services")
    list_filter = ("clinic",)
    date_hierarchy = "date"
    # Public holidays are imported from the Clinic list (actions) or `manage.py import_holidays`.


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    # Names and phones stay on the change page (audited), not in lists, searches or URLs.
    list_display = ("id", "mrn", "clinic", "sms_consent", "sms_opted_out")
    list_filter = ("clinic", "sms_consent", "sms_opted_out")
    search_fields = ("mrn",)
    readonly_fields = ("sms_consent_at", "sms_opted_out", "sms_opted_out_at", "phone_invalid")

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        patient = self.get_object(request, object_id)
        if patient is not None:
            accessed.send(sender=Patient, instance=patient)
        return super().change_view(request, object_id, form_url, extra_context)


class PauseInline(admin.TabularInline):
    model = Pause
    extra = 0
    fields = ("start", "end", "reason", "note", "approved_by")
    raw_id_fields = ("approved_by",)


@admin.register(Plan)
class PlanAdmin(RefusalsShown):
    list_display = ("id", "patient", "medication", "start_date", "end_date", "status")
    list_filter = ("medication", "status")
    raw_id_fields = ("patient", "takehome_approved_by")
    inlines = [PauseInline]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        replanning.plan_changed(plan=form.instance)


@admin.register(Pause)
class PauseAdmin(RefusalsShown):
    list_display = ("plan", "start", "end", "reason")
    list_filter = ("reason",)
    raw_id_fields = ("plan", "approved_by")

    def save_model(self, request: HttpRequest, obj: Pause, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        replanning.plan_changed(plan=obj.plan)


@admin.register(StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "role")
    list_filter = ("role", "clinics")
    filter_horizontal = ("clinics",)
    raw_id_fields = ("user",)
