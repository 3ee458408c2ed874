from django.urls import path
from rest_framework.routers import DefaultRouter

from notifications import webhooks
from notifications.api import MessageViewSet, StaffTaskViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("messages", MessageViewSet, basename="message")
router.register("tasks", StaffTaskViewSet, basename="staff-task")

urlpatterns = [
    path("sms/status/", webhooks.status_callback, name="sms-status"),
    path("sms/inbound/", webhooks.inbound, name="sms-inbound"),
    *router.urls,
]
