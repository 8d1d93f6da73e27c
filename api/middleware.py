"""Pure ASGI middleware: the request id and last-resort error shape, and the body limit.

Both are plain ASGI (not ``BaseHTTPMiddleware``) because they must see the byte stream
and every exception: the body limit counts bytes as the server hands them over, so a
chunked upload without Content-Length is cut off at the limit instead of being buffered
whole, and the request context turns any exception that escapes the app into the
documented JSON error with the request id, where Starlette would answer plain text.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
import uuid
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import BodyTooLarge, error_response
from langnghe.logs import request_id_var

log = logging.getLogger("langnghe.api")

REQUEST_ID_HEADER = "X-Request-Id"
# A client's own request id is echoed and logged only when it is short and plain.
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")


class BodyLimit:
    """Refuse bodies over a limit: at once by Content-Length, else while the body streams.

    ``limit_for`` picks the limit from the scope (the feedback endpoint takes far more
    than a form). Nothing past the limit is ever read from the client.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[Scope], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request with a receive that counts bytes."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            # Read outside a route (by another middleware): answer here if nothing was sent.
            if started:
                raise
            await _too_large(limit)(scope, receive, send)


def _too_large(limit: int) -> JSONResponse:
    return error_response(
        413, "request_too_large", "The request body is too large.", {"limit_bytes": limit}
    )


class RequestContext:
    """Give each request an id (the client's ``X-Request-Id`` or a new one) and log it.

    The id is in every log line of the request, in the ``X-Request-Id`` response header
    and, for an unexpected error, in the body of the JSON 500 this middleware sends
    instead of Starlette's plain-text one.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request inside its request id."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get("x-request-id", "")
        request_id = given if _CLIENT_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (REQUEST_ID_HEADER.lower().encode(), request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error", extra={"path": scope.get("path", "")})
            if status is not None:
                raise  # the response has begun; the server can only cut the connection
            response = error_response(
                500,
                "internal_error",
                "Something went wrong on our side; it has been logged. Quote the request id.",
                {"request_id": request_id},
            )
            await response(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                extra={
                    "method": scope.get("method", ""),
                    "path": scope.get("path", ""),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id_var.reset(token)


class SecurityHeaders:
    """Browser protections: on every response ``nosniff``; on dashboard pages also a CSP
    (scripts only from us or carrying this response's nonce), no framing, no referrer
    leaving the site.

    The nonce is in ``request.state.csp_nonce`` for the templates' inline scripts.
    """

    def __init__(self, app: ASGIApp, prefix: str = "/dashboard") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request and add the headers to its response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = [(b"x-content-type-options", b"nosniff")]
        if scope.get("path", "").startswith(self.prefix):
            nonce = secrets.token_urlsafe(16)
            scope.setdefault("state", {})["csp_nonce"] = nonce
            policy = (
                f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
                # plotly styles its charts inline; styles cannot run code.
                "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
                "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
            )
            headers += [
                (b"content-security-policy", policy.encode()),
                (b"x-frame-options", b"DENY"),
                (b"referrer-policy", b"same-origin"),
            ]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)
