"""Dashboard sessions: a signed cookie after logging in with an API key, and CSRF tokens.

The session cookie is signed (itsdangerous), HttpOnly and SameSite=Lax, and holds
the tenant, the SHA-256 of the key used (so a revoked key ends its sessions) and a
CSRF token. Every form carries that token and every POST checks it (synchroniser
token), and a POST whose Origin names another host is refused as well.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from api.errors import ApiError

SESSION_COOKIE = "lng_session"
LOGIN_CSRF_COOKIE = "lng_login_csrf"
_SALT = "langnghe.dashboard.session"


@dataclass(frozen=True)
class Session:
    """A logged-in analyst: the tenant and the CSRF token of this session."""

    tenant_id: UUID
    tenant_name: str
    key_hash: str
    csrf: str


class SessionSigner:
    """Signs and reads session cookies with the configured (or a per-process) secret."""

    def __init__(self, secret: str | None, max_age_s: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret or secrets.token_urlsafe(32), salt=_SALT)
        self.max_age_s = max_age_s

    def dumps(self, session: Session) -> str:
        """The cookie value for a session."""
        payload: dict[str, Any] = {
            "t": str(session.tenant_id),
            "n": session.tenant_name,
            "k": session.key_hash,
            "c": session.csrf,
        }
        return str(self._serializer.dumps(payload))

    def loads(self, value: str | None) -> Session | None:
        """The session in a cookie, or None if it is missing, forged or expired."""
        if not value:
            return None
        try:
            payload = self._serializer.loads(value, max_age=self.max_age_s)
            return Session(
                UUID(payload["t"]), str(payload["n"]), str(payload["k"]), str(payload["c"])
            )
        except (BadSignature, KeyError, TypeError, ValueError):
            return None


def read_form(body: bytes) -> dict[str, str]:
    """A urlencoded form's fields (the first value of each), refusing what the API refuses.

    Postgres cannot store NUL, and a form is not a way around the API's rules: a field with
    NUL or invalid UTF-8 is a 422, as the same value in a JSON body is.
    """
    try:
        text = body.decode("utf-8")
        fields = {
            k: v[0]
            for k, v in parse_qs(
                text, keep_blank_values=True, encoding="utf-8", errors="strict"
            ).items()
        }
    except UnicodeDecodeError as exc:
        raise ApiError(422, "validation_error", "The form is not valid UTF-8.") from exc
    bad = sorted(k for k, v in fields.items() if "\x00" in v or "\x00" in k)
    if bad:
        raise ApiError(
            422, "validation_error", "Form fields must not contain NUL characters.", {"fields": bad}
        )
    return fields


def check_length(name: str, value: str | None, limit: int) -> None:
    """422 when a form field is longer than the API allows for the same field."""
    if value is not None and len(value) > limit:
        raise ApiError(
            422,
            "validation_error",
            f"{name} has at most {limit} characters.",
            {"field": name, "limit": limit},
        )


def new_token() -> str:
    """A fresh random CSRF token."""
    return secrets.token_urlsafe(24)


def check_origin(request: Request) -> None:
    """Refuse a state-changing request sent from another site's page."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise ApiError(403, "csrf_failed", "The request came from another site.")


def check_token(expected: str | None, sent: str | None) -> None:
    """Refuse a form whose CSRF token is missing or wrong."""
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        raise ApiError(403, "csrf_failed", "The form has expired; reload the page and retry.")
