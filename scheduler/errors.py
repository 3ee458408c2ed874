"""Domain errors raised by services; the API maps them to 400 and 409 (scheduler.api.errors)."""

from __future__ import annotations


class RuleViolation(Exception):
    """Bad input or a rule that refuses an action → 400 {field: [message]} or {detail: message}."""

    status_code = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class StateConflict(Exception):
    """The action conflicts with the current state (slot full, already completed, on hold) → 409 {detail: message}.

    `field` (optional) names the input the refusal is about (e.g. dose_mg for an amount limit, take_home_mg for a
    bottle), so a page can put the message beside that field without reading its words; the API answer is the same.
    """

    status_code = 409

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
