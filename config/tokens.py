"""API tokens that expire, and die on a password change or deactivation.

- A token lives API_TOKEN_TTL_HOURS (default 12) from its `created`; after that it answers 401 and is
  deleted, and POST /api/v1/auth/token/ issues a fresh one.
- A deactivated user's token answers 401 (DRF's TokenAuthentication checks `is_active`).
- A password change deletes the user's tokens. The hook is Django's own: every password validator's
  `password_changed(password, user)` runs when `User.save()` stores a new password (set_password, the
  admin's and the staff pages' forms, createsuperuser), but not when a login merely re-hashes the same
  password. It is a security hook, not a domain write, so it may live outside a service.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token


def token_ttl() -> timedelta:
    return timedelta(hours=settings.API_TOKEN_TTL_HOURS)


def token_expired(token: Token) -> bool:
    return token.created + token_ttl() <= timezone.now()


def token_issue(*, user: Any) -> Token:
    """The user's live token, or a fresh one in place of an expired one."""
    token, created = Token.objects.get_or_create(user=user)
    if not created and token_expired(token):
        token.delete()
        token = Token.objects.create(user=user)
    return token


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, plus the token's age."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        user, token = super().authenticate_credentials(key)
        if token_expired(token):
            Token.objects.filter(pk=token.pk).delete()
            raise exceptions.AuthenticationFailed(
                f"Token expired: tokens live {settings.API_TOKEN_TTL_HOURS} hours. "
                "Get a new one with POST /api/v1/auth/token/."
            )
        return user, token


class RevokeTokensOnPasswordChange:
    """Listed in AUTH_PASSWORD_VALIDATORS for its `password_changed` hook only: it refuses no password."""

    def validate(self, password: str, user: AbstractBaseUser | None = None) -> None:
        return None

    def password_changed(self, password: str, user: AbstractBaseUser | None = None) -> None:
        if user is not None and user.pk is not None:
            Token.objects.filter(user_id=user.pk).delete()

    def get_help_text(self) -> str:
        return "Changing the password signs API clients out: their tokens stop working."
