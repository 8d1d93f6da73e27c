"""Decoding a POSTed JSON body of one item or ``{"items": [...]}``, with the 4xx for each fault.

Shared by every ingest endpoint (feedback, interactions), so bad input gets the same codes
everywhere: ``invalid_encoding`` and ``invalid_json`` (400), ``invalid_number`` (422: NaN,
Infinity or a number no column or reader could hold), ``batch_too_large`` (413) and
``validation_error`` (422, with the failing ``loc`` of each error).
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import ValidationError

from api.errors import ApiError
from api.schemas import NUMBER_MAX


class _BadNumber(ValueError):
    """A number in the body that no column or reader could hold."""


def _refuse_constant(name: str) -> float:
    # Python's json accepts NaN, Infinity and -Infinity, which JSON itself does not.
    raise _BadNumber(name)


def _bounded_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or abs(value) > NUMBER_MAX:  # 1e999 parses as inf
        raise _BadNumber(text)
    return value


def _bounded_int(text: str) -> int:
    # Checked on the digits, before int() spends time on a 5,000-digit number (or refuses
    # it with a ValueError of its own past 4,300 digits).
    if len(text.lstrip("-")) > 16 or abs(int(text)) > NUMBER_MAX:
        raise _BadNumber(text)
    return int(text)


def decode_batch(raw: bytes, max_items: int, noun: str = "items") -> tuple[Any, bool]:
    """The decoded document and whether it is a batch, or the matching ApiError.

    CPU-bound on a large body: call it from a worker thread, not the event loop.
    """
    try:
        document = json.loads(
            raw.decode("utf-8"),
            parse_constant=_refuse_constant,
            parse_float=_bounded_float,
            parse_int=_bounded_int,
        )
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_encoding", "The body is not valid UTF-8.") from exc
    except json.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"The body is not valid JSON: {exc.msg}.") from exc
    except _BadNumber as exc:
        raise ApiError(
            422,
            "invalid_number",
            f"Numbers must be finite and at most {NUMBER_MAX:g} in magnitude: {exc}.",
            {"number": str(exc)[:40]},
        ) from exc
    is_batch = isinstance(document, dict) and "items" in document
    size = len(document["items"]) if is_batch and isinstance(document["items"], list) else 0
    if size > max_items:
        raise ApiError(
            413,
            "batch_too_large",
            f"A batch holds at most {max_items} {noun}.",
            {"items": size, "limit": max_items},
        )
    return document, is_batch


def invalid(exc: ValidationError) -> ApiError:
    """The 422 for a body that decoded but did not validate."""
    details = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    return ApiError(422, "validation_error", "The request is not valid.", details)
