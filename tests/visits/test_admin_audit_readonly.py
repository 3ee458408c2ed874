"""The audit trail in the admin is read-only, even for superusers."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client

from config.audit_readonly import ReadOnlyLogEntryAdmin

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client():
    user = get_user_model().objects.create_superuser("root", "root@example.org", "a-long-passphrase-1")
    client = Client()
    client.force_login(user)
    return client


def test_the_registered_logentry_admin_is_the_read_only_one():
    assert isinstance(admin.site._registry[LogEntry], ReadOnlyLogEntryAdmin)


def test_a_superuser_can_read_but_not_add_change_or_delete_entries(superuser_client, visit):
    entry = LogEntry.objects.filter(content_type__model="visit").first() or LogEntry.objects.first()
    assert entry is not None
    assert superuser_client.get("/admin/auditlog/logentry/").status_code == 200
    assert superuser_client.get(f"/admin/auditlog/logentry/{entry.pk}/change/").status_code == 200
    assert superuser_client.get("/admin/auditlog/logentry/add/").status_code == 403
    assert superuser_client.post(f"/admin/auditlog/logentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    superuser_client.post(f"/admin/auditlog/logentry/{entry.pk}/change/", {"changes": "{}"})
    superuser_client.post(
        "/admin/auditlog/logentry/", {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    )
    assert LogEntry.objects.filter(pk=entry.pk).exists()


def test_the_visit_admin_lists_visits(superuser_client, visit):
    assert superuser_client.get("/admin/visits/visit/").status_code == 200
    assert superuser_client.get(f"/admin/visits/visit/{visit.pk}/change/").status_code == 200
