"""Routes for visits and availability (under /api/v1/)."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from api.visits.views import AvailabilityView, ScreenViewSet, VisitViewSet
from visits.escalations_api import urlpatterns as escalation_urlpatterns

router = SimpleRouter()
router.register("visits", VisitViewSet, basename="visit")
router.register("screens", ScreenViewSet, basename="screen")

urlpatterns = [
    path("clinics/<int:clinic_id>/availability/", AvailabilityView.as_view(), name="clinic-availability"),
    *router.urls,
]
# Escalation routes live in visits/escalations_api.py (owned by the escalations engineer).
urlpatterns += escalation_urlpatterns
