from django.apps import AppConfig


class FhirConfig(AppConfig):
    name = "fhir"
    verbose_name = "HL7 FHIR R4 interface"
    default_auto_field = "django.db.models.BigAutoField"
