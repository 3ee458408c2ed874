"""DRF's default throttles, identifying anonymous clients by config.lockout.client_ip (the same address axes counts)."""

from __future__ import annotations

from typing import Any

from rest_framework import throttling

from config.lockout import client_ip


class AnonRateThrottle(throttling.AnonRateThrottle):
    def get_ident(self, request: Any) -> str:
        return client_ip(request) or ""


class UserRateThrottle(throttling.UserRateThrottle):
    def get_ident(self, request: Any) -> str:
        return client_ip(request) or ""
