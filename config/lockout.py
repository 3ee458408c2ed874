"""Who is signing in, for throttling (DRF) and the login lockout (django-axes).

One answer to "which address is this client?" for both: behind NUM_PROXIES trusted reverse proxies, each
appending to X-Forwarded-For, the client is the address the outermost trusted proxy saw, the NUM_PROXIES-th
entry from the right. Entries further left are whatever the client chose to send, so they never count.
With NUM_PROXIES=0 (default, no proxy) the header is ignored and REMOTE_ADDR is the client.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The same address DRF's throttles use (BaseThrottle.get_ident with NUM_PROXIES), when it is an IP."""
    remote_addr = request.META.get("REMOTE_ADDR")
    num_proxies: int = settings.NUM_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if num_proxies == 0 or not forwarded:
        return remote_addr
    addresses = forwarded.split(",")
    candidate = addresses[-min(num_proxies, len(addresses))].strip()
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        # A trusted proxy always writes an address; garbage here means a misconfigured NUM_PROXIES. Axes
        # stores the address in an inet column, so fall back to the connection's address.
        return remote_addr
    return candidate


# AccessAttempt.username is a varchar(255); the token endpoint refuses longer names before authenticating,
# and this keeps any other sign-in path from writing one (a 500 on PostgreSQL).
AXES_USERNAME_MAX = 255


def lockout_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str | None:
    """The username axes records and locks out: the one signed in with, cut to what its table holds."""
    field = getattr(settings, "AXES_USERNAME_FORM_FIELD", "username")
    username = (credentials or {}).get(field)
    if username is None:
        data = getattr(request, "data", None) or request.POST
        username = data.get(field) if hasattr(data, "get") else None
    return str(username)[:AXES_USERNAME_MAX] if username is not None else None
