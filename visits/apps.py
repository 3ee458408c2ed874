from django.apps import AppConfig


class VisitsConfig(AppConfig):
    name = "visits"
    verbose_name = "Visits and escalations"

    def ready(self) -> None:
        from visits import audit  # noqa: F401  (registers models with django-auditlog)
