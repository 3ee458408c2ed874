"""Shipped defaults (clinic = NULL): reminder policies per DOMAIN.md §5 and neutral templates.

A frozen copy of notifications/defaults.py at the time of writing; later changes ship as new migrations.
"""

from django.db import migrations

POLICIES = {
    "naltrexone_xr": ([7, 1], False),
    "buprenorphine_xr_monthly": ([7, 1], False),
    "buprenorphine_xr_weekly": ([1], False),
    "methadone": ([], True),
    "buprenorphine": ([], True),
    "diamorphine": ([], False),
}

TEMPLATES = {
    ("reminder", "en"): (
        "Hi {first_name}, a reminder of your appointment at {clinic} on {date} at {time}. "
        "Questions: {phone}. Reply STOP to opt out."
    ),
    ("reminder", "es"): (
        "Hola {first_name}, le recordamos su cita en {clinic} el {date} a las {time}. "
        "Dudas: {phone}. Responda STOP para darse de baja."
    ),
    ("missed_checkin", "en"): (
        "Hi {first_name}, we missed you at {clinic}. If you need anything, call {phone}. "
        "Reply STOP to opt out."
    ),
    ("missed_checkin", "es"): (
        "Hola {first_name}, le echamos de menos en {clinic}. Si necesita algo, llame al {phone}. "
        "Responda STOP para darse de baja."
    ),
    ("opt_out_confirmation", "en"): (
        "{clinic}: you will no longer receive texts from us. Reply START to receive them again. "
        "Questions: {phone}."
    ),
    ("opt_out_confirmation", "es"): (
        "{clinic}: ya no le enviaremos mensajes. Responda START para volver a recibirlos. Dudas: {phone}."
    ),
    ("opt_in_confirmation", "en"): (
        "{clinic}: you will receive appointment texts again. Reply STOP to opt out. Questions: {phone}."
    ),
    ("opt_in_confirmation", "es"): (
        "{clinic}: le enviaremos de nuevo avisos de citas. Responda STOP para darse de baja. Dudas: {phone}."
    ),
    ("help", "en"): (
        "{clinic}: appointment texts. For help call {phone}. Reply STOP to opt out, START to opt back in."
    ),
    ("help", "es"): (
        "{clinic}: avisos de citas. Para ayuda llame al {phone}. Responda STOP para darse de baja, START para volver."
    ),
}


def install(apps, schema_editor):
    ReminderPolicy = apps.get_model("notifications", "ReminderPolicy")
    MessageTemplate = apps.get_model("notifications", "MessageTemplate")
    for medication, (days_before, missed_checkin) in POLICIES.items():
        ReminderPolicy.objects.update_or_create(
            clinic=None, medication=medication,
            defaults={"days_before": days_before, "missed_checkin": missed_checkin, "send_at": "10:00", "enabled": True},
        )
    for (purpose, language), body in TEMPLATES.items():
        MessageTemplate.objects.update_or_create(
            clinic=None, purpose=purpose, language=language, defaults={"body": body}
        )


def remove(apps, schema_editor):
    apps.get_model("notifications", "ReminderPolicy").objects.filter(clinic=None).delete()
    apps.get_model("notifications", "MessageTemplate").objects.filter(clinic=None).delete()


class Migration(migrations.Migration):
    dependencies = [("notifications", "0001_initial")]

    operations = [migrations.RunPython(install, remove)]
