from django.apps import AppConfig


class SchedulerConfig(AppConfig):
    name = "scheduler"
    verbose_name = "Clinic calendar and plans"

    def ready(self) -> None:
        from scheduler import audit  # noqa: F401  (registers models with django-auditlog)
