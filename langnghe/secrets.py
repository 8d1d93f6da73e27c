"""Credentials at rest: connector and channel secrets encrypted with a key from settings.

A secret (an SMTP password, a Slack or Teams webhook URL, a Zendesk API token) is
encrypted before it is written to Postgres and decrypted only in the worker that uses
it; the API never returns it after creation and nothing logs it. The key comes from
``LANGNGHE_SECRET_KEY`` (one or more Fernet keys, comma-separated, newest first, so a
key can be rotated: new secrets use the first, old ones still decrypt with the rest).
``langnghe secrets new-key`` prints a fresh key.

Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``) is authenticated: a token
changed in the database fails to decrypt instead of yielding garbage.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretKeyMissing(RuntimeError):
    """A secret must be stored or read, and LANGNGHE_SECRET_KEY is not set."""

    def __init__(self) -> None:
        super().__init__(
            "LANGNGHE_SECRET_KEY is not set: connectors and notification channels store "
            "credentials encrypted; create a key with `langnghe secrets new-key` and set it "
            "for the API and the workers"
        )


class SecretUnreadable(RuntimeError):
    """A stored secret does not decrypt with any configured key (rotated away or altered)."""


def new_key() -> str:
    """A fresh random key, URL-safe base64, for LANGNGHE_SECRET_KEY."""
    return Fernet.generate_key().decode("ascii")


class SecretBox:
    """Encrypts and decrypts secrets with the configured keys."""

    def __init__(self, keys: str | None) -> None:
        parts = [k.strip() for k in (keys or "").split(",") if k.strip()]
        if not parts:
            raise SecretKeyMissing()
        try:
            self._fernet = MultiFernet([Fernet(k.encode("ascii")) for k in parts])
        except (ValueError, UnicodeEncodeError) as exc:
            raise ValueError(
                "LANGNGHE_SECRET_KEY must be Fernet keys (32 url-safe base64-encoded bytes), "
                "comma-separated; create one with `langnghe secrets new-key`"
            ) from exc

    def encrypt(self, plaintext: str) -> str:
        """The token to store for ``plaintext`` (ASCII, safe in a text column)."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plaintext of a stored token; SecretUnreadable when no key opens it."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeEncodeError) as exc:
            raise SecretUnreadable(
                "a stored secret does not decrypt with LANGNGHE_SECRET_KEY (was the key "
                "rotated without keeping the old one?)"
            ) from exc

    def rotate(self, token: str) -> str:
        """Re-encrypt ``token`` under the first (newest) key."""
        return self._fernet.rotate(token.encode("ascii")).decode("ascii")


def mask(secret: str, keep: int = 4) -> str:
    """What the API may show of a secret: its last ``keep`` characters at most."""
    if len(secret) <= keep * 2:
        return "…"
    return "…" + secret[-keep:]
