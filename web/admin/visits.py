"""Admin for the ledger. Audit fields are read-only; every change of a visit goes through the services."""

from __future__ import annotations

from typing import Any

from auditlog.models import LogEntry
from django.contrib import admin
from django.http import HttpRequest

from config.audit_readonly import ReadOnlyLogEntryAdmin
from notifications import replanning
from visits.models import Escalation, StaffTask, Visit
from web.admin.scheduler import RefusalsShown

# What an admin may change on a visit: where and when it is (through visits.services.visit_reschedule).
MOVABLE = ("date", "start")
VISIT_FIELDS = (
    "date", "start", "reason", "patient", "clinic", "plan", "kind", "window", "end", "status", "source", "edited",
    "planned_date", "session", "expected_take_home_doses", "target_date", "earliest", "latest", "take_home_doses",
    "covered_through", "checked_in_at", "checked_in_by", "completed_at", "completed_by", "bottles_returned",
    "bottles_note", "status_reason", "missed_at", "created", "updated",
)

# Replace auditlog's LogEntry admin with one that cannot add, change or delete (even for superusers).
if admin.site.is_registered(LogEntry):
    admin.site.unregister(LogEntry)
admin.site.register(LogEntry, ReadOnlyLogEntryAdmin)


@admin.register(Visit)
class VisitAdmin(RefusalsShown):
    """Visits are booked, moved, checked in and completed through the services, which apply capacity and the
    dosing guard. Here an admin may move a visit (date, start: visits.services.visit_reschedule through
    replanning, so the guard, the windows' capacity and the reminders follow) and edit its booking note;
    a refusal is shown with the form as typed and nothing is saved."""

    list_display = ["id", "clinic", "patient", "kind", "date", "start", "status", "source", "take_home_doses"]
    list_filter = ["status", "kind", "source", "clinic"]
    date_hierarchy = "date"
    search_fields = ["id", "patient__mrn"]
    list_select_related = ["clinic", "patient"]
    fields = VISIT_FIELDS
    # Kind, window and end are the booking's (a kind changed here would skip the guard); status only changes
    # through check-in, completion, cancelling and the missed sweep.
    readonly_fields = [f for f in VISIT_FIELDS if f not in MOVABLE and f != "reason"]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # visits are booked through the API so capacity and rules are enforced

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # the ledger keeps history; cancel instead

    def save_model(self, request: HttpRequest, obj: Visit, form: Any, change: bool) -> None:
        moved = [f for f in MOVABLE if f in form.changed_data]
        if moved:
            start = form.cleaned_data.get("start") if "start" in moved else None
            # visit_reschedule re-reads the row under a lock and writes with a compare-and-swap; it raises the
            # guard's or the window's refusal (RefusalsShown rolls back and shows it).
            moved_visit = replanning.visit_reschedule(
                visit=obj, date=form.cleaned_data["date"], start=start, by=request.user
            )
            for name in ("date", "start", "end", "window_id", "edited", "updated"):
                setattr(obj, name, getattr(moved_visit, name))
        if "reason" in form.changed_data:
            obj.save(update_fields=["reason", "updated"])


@admin.register(Escalation)
class EscalationAdmin(admin.ModelAdmin):
    list_display = ["id", "clinic", "patient", "kind", "consecutive_missed", "created", "resolved_at"]
    list_filter = ["kind", "clinic"]
    list_select_related = ["clinic", "patient"]
    readonly_fields = [
        "patient", "plan", "clinic", "visit", "kind", "reason", "consecutive_missed", "anchor_date",
        "created", "resolved_at", "resolved_by",
    ]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(StaffTask)
class StaffTaskAdmin(admin.ModelAdmin):
    list_display = ["id", "clinic", "kind", "patient", "created", "done_at"]
    list_filter = ["kind", "clinic"]
    list_select_related = ["clinic", "patient"]
    readonly_fields = ["clinic", "patient", "visit", "kind", "detail", "created", "done_at", "done_by"]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
