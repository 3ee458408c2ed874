"""The database session store, writing an unchanged session at most once a minute.

SESSION_SAVE_EVERY_REQUEST makes SESSION_COOKIE_AGE an idle timeout, but saved as is it writes the session row (an
UPDATE and its commit) on every request a screen makes, its pages' fetches of the API included: issue #16's saturation
mix paid that on every request, the trivial endpoint alone never. Here an unchanged session is written only when that
moves its expiry by at least SESSION_REFRESH_SECONDS, so the idle timeout can only get shorter by that much (the expiry
is never later than SESSION_COOKIE_AGE after the last request), never longer; a session whose data changed (login, a
cycled key, messages) is written as before.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.sessions.backends import db

SESSION_REFRESH_SECONDS = 60


class SessionStore(db.SessionStore):
    _stored_expiry: datetime | None = None

    def _get_session_from_db(self) -> Any:
        found = super()._get_session_from_db()  # type: ignore[misc]  # Django's own, not in the stubs
        self._stored_expiry = found.expire_date if found is not None else None
        return found

    def save(self, must_create: bool = False) -> None:
        stored, refresh = self._stored_expiry, timedelta(seconds=SESSION_REFRESH_SECONDS)
        if not (must_create or self.modified) and stored is not None and self.get_expiry_date() - stored < refresh:
            return
        super().save(must_create=must_create)
        self._stored_expiry = self.get_expiry_date()
