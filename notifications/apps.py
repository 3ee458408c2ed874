from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Text messages"

    def ready(self) -> None:
        # audit registers the models with django-auditlog. tasks registers the send task, which
        # notifications/dispatch.py enqueues by its registered name: every process that dispatches (web,
        # commands, tests) needs it, not only the workers where Celery autodiscovers tasks.
        from notifications import audit, tasks  # noqa: F401
