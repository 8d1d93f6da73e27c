"""Requests/s per key and per tenant, and dashboard login throttling, in process memory.

The windows come from the ``limits`` library (moving windows, in-memory storage):
no Redis or Postgres round trip on every request. Each API process counts on its
own, which is the documented trade-off; the items/day quota, which must hold across
processes, is counted in Postgres instead (``store.usage``).
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from api.errors import ApiError


def too_many(code: str, message: str, retry_after_s: float) -> ApiError:
    """A 429 in the common error shape, with Retry-After in whole seconds (at least 1)."""
    wait = max(1, math.ceil(retry_after_s))
    return ApiError(429, code, message, {"retry_after_s": wait}, headers={"Retry-After": str(wait)})


class RequestLimiter:
    """Requests per second, per API key and per tenant."""

    def __init__(self, per_key: int, per_tenant: int) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._per_key = RateLimitItemPerSecond(per_key) if per_key else None
        self._per_tenant = RateLimitItemPerSecond(per_tenant) if per_tenant else None

    def check(self, tenant_id: str, key_id: str) -> None:
        """Count one request; 429 ``rate_limited`` when the key or its tenant is over."""
        for item, scope in ((self._per_key, "key"), (self._per_tenant, "tenant")):
            if item is None:
                continue
            ident = key_id if scope == "key" else tenant_id
            if not self._limiter.hit(item, scope, ident):
                reset = self._limiter.get_window_stats(item, scope, ident).reset_time
                raise too_many(
                    "rate_limited",
                    f"Too many requests for this {scope}: at most {item.amount} per second.",
                    reset - time.time(),
                )


class LoginThrottle:
    """Wrong dashboard keys per client IP and per tenant; over the limit, 429 for a while.

    A wrong key names no tenant, so a failure counts against a tenant when the key is
    one of its revoked or expired keys, or starts with the public prefix of one of its
    keys (``langnghe keys list`` shows prefixes): an attacker who learned a prefix.
    """

    def __init__(self, max_failures: int, window_s: int) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        # limits has no "per N seconds" item; minutes are its finest multi-second unit.
        self._item = RateLimitItemPerMinute(max_failures, max(1, math.ceil(window_s / 60)))

    def _blocked(self, scope: str, ident: str) -> float | None:
        if self._limiter.test(self._item, scope, ident):
            return None
        return self._limiter.get_window_stats(self._item, scope, ident).reset_time - time.time()

    def check(self, client_ip: str, tenant_ids: list[str]) -> None:
        """429 ``too_many_login_failures`` if this IP or one of these tenants is locked."""
        for scope, ident in [("ip", client_ip), *(("tenant", t) for t in tenant_ids)]:
            wait = self._blocked(scope, ident)
            if wait is not None:
                raise too_many(
                    "too_many_login_failures",
                    "Too many wrong API keys; wait before trying again.",
                    wait,
                )

    def failed(self, client_ip: str, tenant_ids: list[str]) -> None:
        """Count one wrong key against this IP and these tenants."""
        self._limiter.hit(self._item, "ip", client_ip)
        for tenant in tenant_ids:
            self._limiter.hit(self._item, "tenant", tenant)
