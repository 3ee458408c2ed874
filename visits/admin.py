"""Admin for the ledger. Audit fields are read-only; state changes go through the API's services."""

from __future__ import annotations

from auditlog.models import LogEntry
from django.contrib import admin

from config.audit_readonly import ReadOnlyLogEntryAdmin
from visits.models import Escalation, StaffTask, Visit

# Replace auditlog's LogEntry admin with one that cannot add, change or delete (even for superusers).
if admin.site.is_registered(LogEntry):
    admin.site.unregister(LogEntry)
admin.site.register(LogEntry, ReadOnlyLogEntryAdmin)


@admin.register(Visit)
class VisitAdmin(admin.ModelAdmin):
    list_display = ["id", "clinic", "patient", "kind", "date", "start", "status", "source", "take_home_doses"]
    list_filter = ["status", "kind", "source", "clinic"]
    date_hierarchy = "date"
    search_fields = ["id", "patient__mrn"]
    list_select_related = ["clinic", "patient"]
    raw_id_fields = ["patient", "plan", "window"]
    readonly_fields = [
        "patient", "clinic", "plan", "source", "planned_date", "session", "expected_take_home_doses",
        "target_date", "earliest", "latest", "take_home_doses", "covered_through", "status",
        "checked_in_at", "checked_in_by", "completed_at", "completed_by", "bottles_returned", "bottles_note",
        "status_reason", "missed_at", "created", "updated",
    ]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # visits are booked through the API so capacity and rules are enforced

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # the ledger keeps history; cancel instead


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
