"""The shipped reminder policies and message templates (clinic = NULL rows).

Migration 0002 installs a frozen copy of these; tests check both the code and the database copy
against the privacy list and the 160-character limit. Templates use only GSM-7 characters so a
text stays one 160-character segment (an accented á/í/ó/ú would switch it to 70-character UCS-2).
"""

from __future__ import annotations

# DOMAIN.md §5: injections get 7 days and 1 day before; daily-dosing patients get no routine
# reminder (the 1/day, 3/week cap) but a check-in text after a missed day.
DEFAULT_POLICIES: dict[str, dict[str, object]] = {
    "naltrexone_xr": {"days_before": [7, 1], "missed_checkin": False},
    "buprenorphine_xr_monthly": {"days_before": [7, 1], "missed_checkin": False},
    "buprenorphine_xr_weekly": {"days_before": [1], "missed_checkin": False},
    "buprenorphine_xr_monthly_brixadi": {"days_before": [7, 1], "missed_checkin": False},
    "methadone": {"days_before": [], "missed_checkin": True},
    "buprenorphine": {"days_before": [], "missed_checkin": True},
    "diamorphine": {"days_before": [], "missed_checkin": False},
}

DEFAULT_TEMPLATES: dict[tuple[str, str], str] = {
    ("reminder", "en"): (
        "Hi {first_name}, a reminder of your appointment at {clinic} on {date} at {time}. "
        "Questions: {phone}. Reply STOP to opt out."
    ),
    ("reminder", "es"): (
        "Hola {first_name}, le recordamos su cita en {clinic} el {date} a las {time}. "
        "Dudas: {phone}. Responda STOP para darse de baja."
    ),
    ("missed_checkin", "en"): (
        "Hi {first_name}, we missed you at {clinic}. If you need anything, call {phone}. Reply STOP to opt out."
    ),
    ("missed_checkin", "es"): (
        "Hola {first_name}, le echamos de menos en {clinic}. Si necesita algo, llame al {phone}. "
        "Responda STOP para darse de baja."
    ),
    ("opt_out_confirmation", "en"): (
        "{clinic}: you will no longer receive texts from us. Reply START to receive them again. Questions: {phone}."
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
    # Issue #15: a random call-back. Neutral: no word of treatment, bottles or why; the patient calls or comes in.
    ("callback", "en"): "Hi {first_name}, please contact {clinic} today: {phone}. Reply STOP to opt out.",
    ("callback", "es"): (
        "Hola {first_name}, por favor contacte hoy con {clinic}: {phone}. Responda STOP para darse de baja."
    ),
    ("help", "en"): (
        "{clinic}: appointment texts. For help call {phone}. Reply STOP to opt out, START to opt back in."
    ),
    ("help", "es"): (
        "{clinic}: avisos de citas. Para ayuda llame al {phone}. Responda STOP para darse de baja, START para volver."
    ),
}
