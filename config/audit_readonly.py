"""The audit trail is evidence: nobody edits or deletes it through the admin, superusers included."""

from __future__ import annotations

from typing import Any

from auditlog.admin import LogEntryAdmin
from django.http import HttpRequest


class ReadOnlyLogEntryAdmin(LogEntryAdmin):
    """auditlog's LogEntryAdmin lets cascade deletes through; this one refuses every write."""

    actions = None

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
