"""Bearer API keys; each request acts for the one tenant that owns its key, within its scopes.

Scopes: ``ingest`` may only POST /v1/feedback; ``read`` may make every GET but those of
the admin areas; ``admin`` may do everything. Which scope a request needs follows
from its method and path (``required_scope``), in this one place, so a new route is
covered without remembering to add a check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import get_db
from api.errors import ApiError
from api.ratelimit import RequestLimiter
from langnghe.config import Settings
from store import keys as keys_store
from store.db import Database
from store.keys import KeyRecord, Scope
from store.tenants import Tenant, hash_key

_bearer = HTTPBearer(auto_error=False, description="An API key from `langnghe keys create`.")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Areas where even reading needs admin: they show keys, who did what, personal data, and
# where credentials lead (connectors).
ADMIN_PREFIXES = ("/v1/keys", "/v1/audit", "/v1/privacy", "/v1/connectors")


@dataclass(frozen=True)
class Principal:
    """Who is acting: a key (API call) or a dashboard user (by the key they logged in with)."""

    kind: str
    tenant: Tenant
    key_id: str | None
    key_name: str | None
    scopes: tuple[Scope, ...]


def required_scope(method: str, path: str) -> Scope:
    """The scope a request needs; admin covers every scope."""
    if path.startswith(ADMIN_PREFIXES):
        return "admin"
    if method == "POST" and path.rstrip("/") == "/v1/feedback":
        return "ingest"
    return "read" if method in _SAFE_METHODS else "admin"


def allows(scopes: tuple[Scope, ...], needed: Scope) -> bool:
    """Whether keys with these scopes may do what needs ``needed``."""
    return "admin" in scopes or needed in scopes


def _limiter(request: Request) -> RequestLimiter:
    state = request.app.state
    if not hasattr(state, "request_limiter"):
        settings: Settings = state.settings
        state.request_limiter = RequestLimiter(settings.rate_key_per_s, settings.rate_tenant_per_s)
    limiter: RequestLimiter = state.request_limiter
    return limiter


def _refuse_key(record: KeyRecord) -> ApiError | None:
    if record.state == "revoked":
        return ApiError(
            401, "revoked_api_key", "This API key has been revoked.", headers=_CHALLENGE
        )
    if record.state == "expired":
        return ApiError(
            401,
            "expired_api_key",
            "This API key has expired.",
            {"expired_at": record.expires_at},
            headers=_CHALLENGE,
        )
    return None


def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    db: Annotated[Database, Depends(get_db)],
) -> Principal:
    """The key's principal, or 401 (no, unknown, revoked, expired key), 403, or 429."""
    if credentials is None or not credentials.credentials:
        raise ApiError(
            401, "missing_api_key", "Send 'Authorization: Bearer <api key>'.", headers=_CHALLENGE
        )
    with db.transaction() as conn:
        found = keys_store.lookup(conn, hash_key(credentials.credentials))
        if found is not None and found[1].state == "active":
            keys_store.touch(conn, found[1].id)
    if found is None:
        raise ApiError(401, "invalid_api_key", "The API key is not valid.", headers=_CHALLENGE)
    tenant, record = found
    refusal = _refuse_key(record)
    if refusal is not None:
        raise refusal
    needed = required_scope(request.method, request.url.path)
    if not allows(record.scopes, needed):
        raise ApiError(
            403,
            "insufficient_scope",
            f"This API key lacks the '{needed}' scope.",
            {"required": needed, "scopes": list(record.scopes)},
        )
    _limiter(request).check(str(tenant.id), str(record.id))
    principal = Principal("key", tenant, str(record.id), record.name, record.scopes)
    request.state.tenant = tenant
    request.state.principal = principal
    return principal


def current_tenant(principal: Annotated[Principal, Depends(current_principal)]) -> Tenant:
    """The tenant of the request's API key (after the scope and rate checks)."""
    return principal.tenant


TenantDep = Annotated[Tenant, Depends(current_tenant)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
