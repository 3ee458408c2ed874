"""Twilio webhooks: delivery status callbacks and incoming texts.

Both verify X-Twilio-Signature against PUBLIC_BASE_URL + path and the auth token; a missing or
wrong signature answers 403 before anything is read or written. From and Body are patient data:
never logged above DEBUG.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from notifications.callbacks import message_status_update
from notifications.inbound import inbound_receive

logger = logging.getLogger(__name__)


def signature_valid(request: HttpRequest) -> bool:
    signature = request.headers.get("X-Twilio-Signature", "")
    token = settings.TWILIO_AUTH_TOKEN
    if not signature or not token:
        return False
    url = f"{settings.PUBLIC_BASE_URL}{request.path}"
    return bool(RequestValidator(token).validate(url, request.POST, signature))


def _forbidden() -> HttpResponse:
    return HttpResponseForbidden("Invalid or missing X-Twilio-Signature.", content_type="text/plain")


@csrf_exempt
@require_POST
def status_callback(request: HttpRequest) -> HttpResponse:
    if not signature_valid(request):
        logger.warning("SMS status callback refused: bad signature")
        return _forbidden()
    message_status_update(
        provider_id=request.POST.get("MessageSid", ""),
        status=request.POST.get("MessageStatus", ""),
        error_code=(request.POST.get("ErrorCode") or "")[:16],
    )
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def inbound(request: HttpRequest) -> HttpResponse:
    if not signature_valid(request):
        logger.warning("SMS inbound webhook refused: bad signature")
        return _forbidden()
    sid = request.POST.get("MessageSid", "") or request.POST.get("SmsSid", "")
    reply = None
    if sid:
        logger.debug("inbound SMS %s from %s", sid, request.POST.get("From", ""))
        reply = inbound_receive(
            provider_id=sid[:64], from_number=request.POST.get("From", ""), body=request.POST.get("Body", "")
        )
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return HttpResponse(str(response), content_type="text/xml")
