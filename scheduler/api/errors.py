"""One exception handler for the API: Django's ValidationError and integrity races answer 400/409, an oversized
body 413, never 500. Errors under /api/ that never reach DRF (unknown paths, 500s) are made JSON by
config.middleware.ApiEdgeMiddleware.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.parsers import body_limit, too_large
from scheduler.errors import RuleViolation, StateConflict


class Conflict(exceptions.APIException):
    """409: slot full, visit already completed, plan on hold."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "This conflicts with the current state."
    default_code = "conflict"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RuleViolation):
        exc = exceptions.ValidationError({exc.field: [exc.message]} if exc.field else {"detail": exc.message})
    elif isinstance(exc, StateConflict):
        exc = Conflict(exc.message)
    elif isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            exc = exceptions.ValidationError(exc.message_dict)
        else:
            exc = exceptions.ValidationError({"detail": exc.messages})
    elif isinstance(exc, RequestDataTooBig):
        exc = too_large(body_limit())
    elif isinstance(exc, TooManyFieldsSent):
        exc = exceptions.ParseError(str(exc))
    elif isinstance(exc, IntegrityError):
        exc = Conflict("This change conflicts with existing data (a duplicate or a concurrent change).")
    response = drf_exception_handler(exc, context)
    request = context.get("request")
    if response is not None and request is not None:
        # An error is JSON whatever the client asked for (?format=csv, Accept: text/csv): the renderer
        # negotiated for the answer it wanted would turn the field messages into a CSV table.
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type
    return response
