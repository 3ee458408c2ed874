"""Logging filters: an expected client error is one line, not a traceback."""

from __future__ import annotations

import logging


class ClientErrorsWithoutTraceback(logging.Filter):
    """Django logs a 403/404/400 raised as an exception (PermissionDenied, Http404, SuspiciousOperation) with its
    traceback. A 4xx is the client's mistake and expected: keep the one-line message, drop the traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        status_code = getattr(record, "status_code", None)
        if isinstance(status_code, int) and 400 <= status_code < 500:
            record.exc_info = None
            record.exc_text = None
        return True
