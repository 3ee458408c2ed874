"""Scheduler endpoints under /api/v1/ (API.md)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from api.scheduler import views

router = SimpleRouter()
router.register("clinics", views.ClinicViewSet, basename="clinic")
router.register("clinics/(?P<clinic_pk>[0-9]+)/windows", views.WindowViewSet, basename="clinic-window")
router.register("clinics/(?P<clinic_pk>[0-9]+)/closures", views.ClosureViewSet, basename="clinic-closure")
router.register("patients", views.PatientViewSet, basename="patient")
router.register("plans", views.PlanViewSet, basename="plan")
router.register("plans/(?P<plan_pk>[0-9]+)/pauses", views.PauseViewSet, basename="plan-pause")
router.register("staff", views.StaffViewSet, basename="staff")

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="api-token"),
    path("", include(router.urls)),
]
