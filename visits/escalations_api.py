"""HTTP for escalations (API.md "Escalations"): list them, resolve one with a note.

`GET /api/v1/escalations/?clinic=&open=true` (every role), `POST /api/v1/escalations/{id}/resolve/ {note}`
(clinicians and admins). Another clinic's escalation answers 404. Views call one service (visits.missed).
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from scheduler.api.audit import AuditActorMixin
from scheduler.api.filters import StrictBooleanFilter, clinic_filter, patient_filter, plan_filter
from scheduler.api.serializers import MilligramField
from scheduler.permissions import ALL_ROLES, CLINICAL, ActionRoles, IsStaffMember, scope_to_clinics
from visits.missed import escalation_resolve
from visits.models import Escalation


class EscalationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Escalation
        fields = [
            "id",
            "patient",
            "plan",
            "clinic",
            "visit",
            "kind",
            "reason",
            "consecutive_missed",
            "anchor_date",
            "created",
            "resolved_at",
            "resolved_by",
            "resolution_note",
        ]
        read_only_fields = fields


class ReinductionSerializer(serializers.Serializer):
    """Issue #14: a re-induction schedule, created as a series of dose orders from today (like a taper, upward)."""

    start_mg = MilligramField(help_text="The first dose (methadone: at most the rule set's first-dose limit, 30 mg).")
    step_mg = MilligramField(help_text="mg more at each step (methadone: at most the rule set's step, 10 mg).")
    every_days = serializers.IntegerField(
        min_value=1, max_value=28, help_text="Days between steps (methadone: at least the rule set's 3 days)."
    )
    target_mg = MilligramField(help_text="The dose to reach (the last step); at least start_mg.")


class EscalationResolveSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, help_text="How the escalation was resolved (required).")
    restart_dose_mg = MilligramField(
        required=False, allow_null=True, default=None,
        help_text="Issue #14: the dose to restart on after a hold, review, re-induction or re-titration (often "
        "reduced); it becomes the plan's order from today, so the next completion uses it.",
    )
    reinduction = ReinductionSerializer(
        required=False, allow_null=True, default=None,
        help_text="Issue #14: instead of restart_dose_mg, a re-induction schedule (hold, clinician review, "
        "re-induction or re-titration): orders from today, start_mg then step_mg more every every_days days up to "
        "target_mg, within the rule set's methadone induction limits.",
    )


class EscalationErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class EscalationFilter(django_filters.FilterSet):
    clinic = clinic_filter()
    patient = patient_filter()
    plan = plan_filter()
    kind = django_filters.ChoiceFilter(choices=Escalation.KIND_CHOICES)
    open = StrictBooleanFilter(
        field_name="resolved_at",
        lookup_expr="isnull",
        help_text="true: only unresolved escalations; false: only resolved ones.",
    )

    class Meta:
        model = Escalation
        fields = ["clinic", "patient", "plan", "kind", "open"]


@extend_schema_view(list=extend_schema(summary="List escalations in your clinics (newest first)"))
class EscalationViewSet(AuditActorMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = EscalationSerializer
    filterset_class = EscalationFilter
    permission_classes = [IsStaffMember, ActionRoles]
    action_roles = {"list": ALL_ROLES, "resolve": CLINICAL}

    def get_queryset(self) -> QuerySet[Escalation]:
        qs = Escalation.objects.order_by("-created", "-id")
        return scope_to_clinics(qs, self.request.user)

    @extend_schema(
        request=EscalationResolveSerializer,
        responses={
            200: EscalationSerializer,
            400: OpenApiResponse(description='The note is missing: {"note": [...]}; or a re-induction schedule '
                                 "breaks a rule (the field is named)."),
            403: OpenApiResponse(EscalationErrorSerializer, description="Clinicians and admins only."),
            404: OpenApiResponse(EscalationErrorSerializer, description="No such escalation in your clinics."),
            409: OpenApiResponse(EscalationErrorSerializer, description="Already resolved."),
        },
        summary="Resolve an escalation (hold, review, re-induction, outreach) with a note",
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: Any = None) -> Response:
        escalation = self.get_object()
        body = EscalationResolveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        escalation = escalation_resolve(
            escalation=escalation, by=request.user, note=body.validated_data["note"],
            restart_dose_mg=body.validated_data["restart_dose_mg"], reinduction=body.validated_data["reinduction"],
        )
        return Response(EscalationSerializer(escalation).data)


urlpatterns = [
    path("escalations/", EscalationViewSet.as_view({"get": "list"}), name="escalation-list"),
    path(
        "escalations/<int:pk>/resolve/",
        EscalationViewSet.as_view({"post": "resolve"}),
        name="escalation-resolve",
    ),
]
