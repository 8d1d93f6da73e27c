"""One error shape for every failure: ``{"error": {"code", "message", "details"}}``.

Domain code raises ApiError; the handlers here translate everything else
(validation, routing, database outages) into the same shape in one place.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import psycopg_pool
from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the client can act on, with a stable machine-readable code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


class BodyTooLarge(HTTPException):
    """The request body went past its limit while it was being read.

    FastAPI's HTTPException, so its body parsing lets it through unchanged and the app's
    handler for it answers 413 ``request_too_large`` from wherever the body was read.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail="The request body is too large.")
        self.limit = limit


class ErrorDetail(BaseModel):
    """What went wrong: a stable code to act on, a message for people, and specifics."""

    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """The shape of every error response."""

    error: ErrorDetail


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The JSON response for an error."""
    body = {"error": {"code": code, "message": message, "details": jsonable_encoder(details)}}
    return JSONResponse(body, status_code=status, headers=headers)


_HTTP_CODES = {
    404: ("not_found", "No such resource."),
    405: ("method_not_allowed", "This method is not allowed here."),
}


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Echoing the rejected input back could reflect megabytes or invalid text.
    return [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the same shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(
            422, "validation_error", "The request is not valid.", _validation_details(exc)
        )

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_: Request, exc: BodyTooLarge) -> JSONResponse:
        return error_response(
            413, "request_too_large", "The request body is too large.", {"limit_bytes": exc.limit}
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, message = _HTTP_CODES.get(exc.status_code, ("http_error", str(exc.detail)))
        return error_response(
            exc.status_code, code, message, headers=dict(exc.headers) if exc.headers else None
        )

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(psycopg_pool.PoolTimeout)
    async def _database_down(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        return error_response(
            503,
            "database_unavailable",
            "The database is not reachable; nothing was stored. Retry later.",
            headers={"Retry-After": "5"},
        )
