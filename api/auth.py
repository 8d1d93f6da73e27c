"""Bearer API keys; each request acts for the one tenant that owns its key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import get_db
from api.errors import ApiError
from store import tenants as tenants_store
from store.db import Database
from store.tenants import Tenant

_bearer = HTTPBearer(auto_error=False, description="An API key from `langnghe keys create`.")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def current_tenant(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    db: Annotated[Database, Depends(get_db)],
) -> Tenant:
    """The tenant of the request's API key, or 401."""
    if credentials is None or not credentials.credentials:
        raise ApiError(
            401, "missing_api_key", "Send 'Authorization: Bearer <api key>'.", headers=_CHALLENGE
        )
    with db.transaction() as conn:
        tenant = tenants_store.tenant_for_key(conn, credentials.credentials)
    if tenant is None:
        raise ApiError(401, "invalid_api_key", "The API key is not valid.", headers=_CHALLENGE)
    request.state.tenant = tenant
    return tenant


TenantDep = Annotated[Tenant, Depends(current_tenant)]
