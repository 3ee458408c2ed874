"""Read-only messages, and the front-desk inbox of staff tasks fed by SMS replies."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from notifications.inbound import staff_task_done
from notifications.models import Message
from scheduler.api.base import ID_PATH
from scheduler.api.filters import ScopedIdFilter, StrictBooleanFilter, clinic_filter, patient_filter
from scheduler.permissions import ALL_ROLES, FRONT_DESK, ActionRoles, IsStaffMember, scope_to_clinics
from visits.models import StaffTask, Visit


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = [
            "id",
            "patient",
            "visit",
            "purpose",
            "slot",
            "body",
            "scheduled_for",
            "status",
            "status_reason",
            "provider_id",
            "error_code",
            "sent_at",
            "delivered_at",
        ]
        read_only_fields = fields


class MessageFilter(django_filters.FilterSet):
    patient = patient_filter()
    visit = ScopedIdFilter(field_name="visit_id", model=Visit, scope_field="clinic")
    status = django_filters.ChoiceFilter(choices=Message._meta.get_field("status").choices)
    purpose = django_filters.CharFilter()

    class Meta:
        model = Message
        fields = ["patient", "visit", "status", "purpose"]


class MessageViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = MessageSerializer
    filterset_class = MessageFilter
    permission_classes = [IsStaffMember, ActionRoles]
    lookup_value_regex = ID_PATH
    action_roles = {"read": ALL_ROLES}

    def get_queryset(self) -> QuerySet[Message]:
        qs = Message.objects.order_by("-scheduled_for", "-id")
        return scope_to_clinics(qs, self.request.user, "patient__clinic")


class StaffTaskSerializer(serializers.ModelSerializer):
    class Meta:
        model = StaffTask
        fields = ["id", "clinic", "patient", "visit", "kind", "detail", "created", "done_at", "done_by"]
        read_only_fields = fields


class StaffTaskFilter(django_filters.FilterSet):
    clinic = clinic_filter()
    patient = patient_filter()
    kind = django_filters.CharFilter()
    open = StrictBooleanFilter(field_name="done_at", lookup_expr="isnull", help_text="true: open tasks; false: done.")

    class Meta:
        model = StaffTask
        fields = ["clinic", "patient", "kind", "open"]


class StaffTaskViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = StaffTaskSerializer
    filterset_class = StaffTaskFilter
    permission_classes = [IsStaffMember, ActionRoles]
    lookup_value_regex = ID_PATH
    action_roles = {"read": ALL_ROLES, "done": FRONT_DESK}

    def get_queryset(self) -> QuerySet[StaffTask]:
        return scope_to_clinics(StaffTask.objects.order_by("-created", "-id"), self.request.user, "clinic")

    @action(detail=True, methods=["post"])
    def done(self, request: Request, pk: Any = None) -> Response:
        task = staff_task_done(task=self.get_object(), user=request.user)
        return Response(StaffTaskSerializer(task).data)
