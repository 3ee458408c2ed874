from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Text messages"

    def ready(self) -> None:
        from notifications import audit  # noqa: F401  (registers models with django-auditlog)
