"""POST, GET and list feedback."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import AwareDatetime, ValidationError

from api.audit.service import note_audit
from api.auth import PrincipalDep, TenantDep
from api.bodies import decode_batch, invalid
from api.cursor import decode_cursor, encode_cursor
from api.deps import DbDep, QueueDep, SettingsDep
from api.errors import ApiError
from api.metrics import FEEDBACK_ACCEPTED, FEEDBACK_DUPLICATES, FEEDBACK_REJECTED
from api.schemas import (
    AcceptedItem,
    AcceptedResponse,
    Channel,
    FeedbackBatchIn,
    FeedbackIn,
    FeedbackOut,
    FeedbackPage,
)
from api.service import Quota, store_feedback, text_too_large
from langnghe.config import Settings
from store import corrections as corrections_store
from store import feedback as feedback_store
from workers.enqueue import enqueue_fair

router = APIRouter(prefix="/v1/feedback", tags=["feedback"])

_BODY_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/FeedbackIn"},
                        {"$ref": "#/components/schemas/FeedbackBatchIn"},
                    ]
                }
            }
        },
    }
}


def _reject(status: int, code: str, message: str, details: Any = None) -> ApiError:
    FEEDBACK_REJECTED.labels(reason=code).inc()
    return ApiError(status, code, message, details)


def parse_feedback_body(raw: bytes, settings: Settings) -> list[FeedbackIn]:
    """Decode, parse and validate a POST body into items, or raise the matching 4xx.

    CPU-bound on a large body: call it from a worker thread, not the event loop. The body
    size is already bounded by the BodyLimit middleware.
    """
    try:
        document, is_batch = decode_batch(raw, settings.max_batch_items)
        try:
            items = (
                FeedbackBatchIn.model_validate(document).items
                if is_batch
                else [FeedbackIn.model_validate(document)]
            )
        except ValidationError as exc:
            raise invalid(exc) from exc
    except ApiError as exc:
        FEEDBACK_REJECTED.labels(reason=exc.code).inc()
        raise
    too_large = [i for i, item in enumerate(items) if text_too_large(item, settings.max_text_bytes)]
    if too_large:
        raise _reject(
            413,
            "text_too_large",
            f"Text is limited to {settings.max_text_bytes} bytes of UTF-8 per item.",
            {"indexes": too_large[:100], "limit": settings.max_text_bytes},
        )
    return items


@router.post(
    "",
    status_code=202,
    response_model=AcceptedResponse,
    openapi_extra=_BODY_SCHEMA,
    summary="Submit one item or a batch",
    responses={
        400: {"description": "Invalid JSON or UTF-8"},
        413: {"description": "Text, batch or body too large"},
        422: {"description": "Invalid fields"},
        429: {"description": "Rate limit or items/day quota exceeded (see Retry-After)"},
    },
)
async def post_feedback(
    request: Request, principal: PrincipalDep, db: DbDep, settings: SettingsDep, queue: QueueDep
) -> AcceptedResponse:
    """Store the items, answer 202 with their ids once committed, then queue the analysis."""
    tenant = principal.tenant
    # Parsing, validation and (in store_feedback) redaction of a 64 MB batch take seconds of
    # CPU: in the threadpool, so the event loop keeps serving every other tenant meanwhile.
    items = await run_in_threadpool(parse_feedback_body, await request.body(), settings)
    assert principal.key_id is not None
    quota = Quota(
        UUID(principal.key_id),
        settings.quota_key_items_per_day,
        settings.quota_tenant_items_per_day,
    )
    inserted = await run_in_threadpool(
        store_feedback, db, tenant, items, settings.pii_redaction, quota
    )
    fresh = [i.id for i in inserted if not i.duplicate]
    for item, result in zip(items, inserted, strict=True):
        if not result.duplicate:
            FEEDBACK_ACCEPTED.labels(channel=item.channel).inc()
    FEEDBACK_DUPLICATES.inc(len(inserted) - len(fresh))
    note_audit(request, accepted=len(fresh), duplicates=len(inserted) - len(fresh))
    if fresh:
        await run_in_threadpool(
            enqueue_fair,
            db,
            queue,
            tenant.id,
            fresh,
            settings.analyze_batch_size,
            settings.tenant_max_inflight,
        )
    return AcceptedResponse(
        items=[
            AcceptedItem(id=i.id, external_id=i.external_id, duplicate=i.duplicate)
            for i in inserted
        ],
        accepted=len(fresh),
        duplicates=len(inserted) - len(fresh),
    )


@router.get(
    "/{feedback_id}", response_model=FeedbackOut, responses={404: {"description": "Not found"}}
)
def get_feedback(feedback_id: UUID, tenant: TenantDep, db: DbDep) -> dict[str, Any]:
    """One item of your tenant, with its analysis once done and people's corrections beside it."""
    with db.transaction() as conn:
        row = feedback_store.get_feedback(conn, tenant.id, feedback_id)
        if row is None:
            raise ApiError(404, "not_found", "No feedback with this id.")
        corrections = corrections_store.list_for_item(conn, tenant.id, feedback_id)
    return {**row, "corrections": corrections_store.merged(corrections)}


@router.get("", response_model=FeedbackPage, responses={400: {"description": "Bad cursor"}})
def list_feedback(
    tenant: TenantDep,
    db: DbDep,
    status: Literal["pending", "processing", "done", "failed"] | None = None,
    channel: Channel | None = None,
    language: Literal["vi", "en", "mixed", "other"] | None = None,
    sentiment: Literal["negative", "neutral", "positive"] | None = None,
    complaint: bool | None = None,
    received_after: AwareDatetime | None = None,
    received_before: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> FeedbackPage:
    """Your feedback, newest first, filtered, in pages."""
    filters = feedback_store.FeedbackFilter(
        status=status,
        channel=channel,
        language=language,
        sentiment=sentiment,
        complaint=complaint,
        received_after=received_after,
        received_before=received_before,
    )
    before = decode_cursor(cursor) if cursor else None
    with db.transaction() as conn:
        rows = feedback_store.list_feedback(conn, tenant.id, filters, limit, before)
    next_cursor = (
        encode_cursor(rows[-1]["received_at"], rows[-1]["id"]) if len(rows) == limit else None
    )
    return FeedbackPage(items=[FeedbackOut(**r) for r in rows], next_cursor=next_cursor)
