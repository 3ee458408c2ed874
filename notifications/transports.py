"""SMS transports, chosen by settings.SMS_BACKEND. Each raises TransportError(permanent=...);
permanent errors are never retried (healthchecks' hc/api/transports.py)."""

from __future__ import annotations

import logging
import os
import time
import uuid
from typing import Any, Protocol

from django.conf import settings

logger = logging.getLogger(__name__)

# Twilio error codes that will never succeed on retry for this number.
UNSUBSCRIBED = "21610"
INVALID_NUMBER_CODES = frozenset({"21211", "21614", "21612", "21408"})
FAKE_SENT_LIST = "dosewise:fake_sms:sent"
FAKE_COUNT_KEY = "dosewise:fake_sms:count:{}"


class TransportError(Exception):
    def __init__(self, message: str, *, code: str = "", permanent: bool) -> None:
        super().__init__(message)
        self.message = message
        self.code = str(code or "")
        self.permanent = permanent


class Transport(Protocol):
    def send(self, *, to: str, body: str, message_id: int) -> str:
        """Hand the text to the provider; return the provider's message id."""
        ...


def masked(number: str) -> str:
    return f"***{number[-4:]}" if number else "***"


class ConsoleTransport:
    """The laptop stand-in for the provider: prints the text (it is the provider), logs nothing above DEBUG."""

    def send(self, *, to: str, body: str, message_id: int) -> str:
        print(f"SMS to {masked(to)}: {body}", flush=True)  # noqa: T201
        logger.debug("console SMS for message %s", message_id)
        return f"console-{message_id}-{uuid.uuid4().hex[:12]}"


memory_outbox: list[dict[str, Any]] = []
# Tests push TransportErrors here; the memory transport raises them first-in first-out.
memory_failures: list[TransportError] = []


class MemoryTransport:
    def send(self, *, to: str, body: str, message_id: int) -> str:
        if memory_failures:
            raise memory_failures.pop(0)
        provider_id = f"SM{uuid.uuid4().hex}"
        memory_outbox.append({"to": to, "body": body, "message_id": message_id, "provider_id": provider_id})
        return provider_id


class FakeRedisTransport:
    """A provider that counts in Redis so tests can check exactly-once across worker processes.

    FAKE_SMS_DELAY_SECONDS makes the provider slow *before* it accepts the text, which is where a
    worker can be killed without the provider having the message.
    """

    def __init__(self) -> None:
        import redis

        url = os.environ.get("FAKE_SMS_REDIS_URL") or settings.REDIS_URL
        if not url:
            raise TransportError("fake_redis needs REDIS_URL", permanent=False)
        self.redis = redis.Redis.from_url(url)

    def send(self, *, to: str, body: str, message_id: int) -> str:
        import redis

        delay = float(os.environ.get("FAKE_SMS_DELAY_SECONDS") or 0)
        if delay:
            time.sleep(delay)
        try:
            pipe = self.redis.pipeline()
            pipe.incr(FAKE_COUNT_KEY.format(message_id))
            pipe.rpush(FAKE_SENT_LIST, message_id)
            pipe.execute()
        except redis.RedisError as exc:
            raise TransportError(f"fake provider unreachable: {type(exc).__name__}", permanent=False) from exc
        return f"FAKE{message_id}-{uuid.uuid4().hex[:12]}"


class TwilioTransport:
    def __init__(self) -> None:
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        self.client = Client(
            settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=TwilioHttpClient(timeout=15)
        )

    def send(self, *, to: str, body: str, message_id: int) -> str:
        import requests
        from twilio.base.exceptions import TwilioException, TwilioRestException

        kwargs: dict[str, Any] = {
            "to": to,
            "body": body,
            "status_callback": f"{settings.PUBLIC_BASE_URL}/api/v1/sms/status/",
        }
        if settings.TWILIO_MESSAGING_SERVICE_SID:
            kwargs["messaging_service_sid"] = settings.TWILIO_MESSAGING_SERVICE_SID
        else:
            kwargs["from_"] = settings.TWILIO_FROM_NUMBER
        try:
            message = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            raise classify_twilio_error(exc) from exc
        except requests.RequestException as exc:
            # Timeouts and dropped connections: the provider may or may not have the text.
            raise TransportError(f"provider unreachable: {type(exc).__name__}", permanent=False) from exc
        except TwilioException as exc:
            raise TransportError(f"provider error: {type(exc).__name__}", permanent=False) from exc
        return str(message.sid)


def classify_twilio_error(exc: Any) -> TransportError:
    code = str(getattr(exc, "code", "") or "")
    status = int(getattr(exc, "status", 0) or 0)
    temporary = status == 429 or status >= 500 or status == 0
    if code in INVALID_NUMBER_CODES or code == UNSUBSCRIBED:
        temporary = False
    return TransportError(f"provider refused (HTTP {status}, code {code or '-'})", code=code, permanent=not temporary)


_TRANSPORTS: dict[str, type] = {
    "console": ConsoleTransport,
    "memory": MemoryTransport,
    "fake_redis": FakeRedisTransport,
    "twilio": TwilioTransport,
}


# One transport per worker process and configuration: a Twilio client keeps its HTTP session (and TLS
# connection) to the provider, the fake provider its Redis connection pool. Keyed on the backend name and
# what the transport reads when it is built, so a test that switches SMS_BACKEND gets the right one.
_transports: dict[tuple[object, ...], Transport] = {}


def _transport_key(backend: str) -> tuple[str, ...]:
    if backend == "fake_redis":
        return (backend, os.environ.get("FAKE_SMS_REDIS_URL") or "", str(settings.REDIS_URL or ""))
    if backend == "twilio":
        return (backend, str(settings.TWILIO_ACCOUNT_SID), str(settings.TWILIO_AUTH_TOKEN))
    return (backend,)


def get_transport() -> Transport:
    backend = settings.SMS_BACKEND
    try:
        cls = _TRANSPORTS[backend]
    except KeyError as exc:
        raise TransportError(f"unknown SMS_BACKEND {backend!r}", permanent=False) from exc
    key = (cls, *_transport_key(backend))
    transport = _transports.get(key)
    if transport is None:
        transport = _transports[key] = cls()
    return transport


def reset_transports() -> None:
    """Forget the cached transports (tests that patch a transport class or its settings)."""
    _transports.clear()
