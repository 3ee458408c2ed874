from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Text messages"

    def ready(self) -> None:
        from notifications import audit  # noqa: F401  (registers models with django-auditlog)
        # The send task is enqueued by its registered name (notifications/dispatch.py), so it must be registered in
        # every process that dispatches (web, commands, tests), not only where Celery autodiscovers tasks (workers).
        from notifications import tasks  # noqa: F401
