"""POST interactions; list and read customer profiles; silent detractors; reconciliation."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import AwareDatetime

from api.auth import TenantDep
from api.customers import service
from api.customers.schemas import (
    CustomerDetail,
    CustomerPage,
    LoopList,
    LoopPage,
    LoyaltyReport,
    Reconciliation,
    RiskBand,
    Segment,
)
from api.deps import DbDep, QueueDep, SettingsDep
from api.errors import ApiError
from api.schemas import AcceptedResponse, Channel
from store import customers as customers_store
from store import interactions as interactions_store
from workers.customers import CustomerSettings, load_settings
from workers.enqueue import nudge_customer_refresh

interactions_router = APIRouter(prefix="/v1/interactions", tags=["customers"])
router = APIRouter(prefix="/v1/customers", tags=["customers"])

_BODY_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/InteractionBatchIn"},
                        {
                            "oneOf": [
                                {"$ref": f"#/components/schemas/{name}"}
                                for name in (
                                    "OrderIn",
                                    "DeliveryIn",
                                    "SupportContactIn",
                                    "AppSessionIn",
                                    "CancellationIn",
                                    "SurveySentIn",
                                    "SurveyAnsweredIn",
                                )
                            ]
                        },
                    ]
                }
            }
        },
    }
}


@interactions_router.post(
    "",
    status_code=202,
    response_model=AcceptedResponse,
    openapi_extra=_BODY_SCHEMA,
    summary="Submit one interaction or a batch",
    responses={
        400: {"description": "Invalid JSON or UTF-8"},
        413: {"description": "Batch or body too large"},
        422: {"description": "Invalid fields"},
    },
)
async def post_interactions(
    request: Request, tenant: TenantDep, db: DbDep, settings: SettingsDep, queue: QueueDep
) -> Response:
    """Store the interactions, answer 202 once committed, then queue the profile refresh."""
    raw = await request.body()

    def parse_and_store() -> interactions_store.BatchOutcome:
        # One hop to a worker thread for both: parsing a batch is CPU-bound, and must not
        # hold the event loop while other requests wait.
        items = service.parse_interactions_body(
            raw, settings.max_request_bytes, settings.max_batch_items
        )
        return service.store_interactions(db, tenant.id, items)

    outcome = await run_in_threadpool(parse_and_store)
    if outcome.accepted:
        nudge_customer_refresh(queue)
    # The AcceptedResponse as Postgres wrote its items (store.interactions): no per-item
    # Python, and nothing for the event loop to validate or serialise.
    body = (
        f'{{"items":{outcome.items},"accepted":{outcome.accepted},'
        f'"duplicates":{outcome.duplicates}}}'
    )
    return Response(body, status_code=202, media_type="application/json")


@router.get("", response_model=CustomerPage, responses={400: {"description": "Bad cursor"}})
def list_customers(
    tenant: TenantDep,
    db: DbDep,
    segment: Segment | None = None,
    risk_band: RiskBand | None = None,
    channel: Channel | None = None,
    last_contact_after: AwareDatetime | None = None,
    last_contact_before: AwareDatetime | None = None,
    silent: Annotated[bool | None, Query(description="True: never complained.")] = None,
    cancelled: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> CustomerPage:
    """Your customers, highest churn risk first, filtered, in pages."""
    filters = customers_store.CustomerFilter(
        segment=segment,
        risk_band=risk_band,
        channel=channel,
        last_contact_after=last_contact_after,
        last_contact_before=last_contact_before,
        silent=silent,
        cancelled=cancelled,
    )
    return service.customer_page(db, tenant.id, filters, limit, cursor)


@router.get(
    "/silent-detractors",
    response_model=CustomerPage,
    responses={400: {"description": "Bad cursor"}},
)
def silent_detractors(
    tenant: TenantDep,
    db: DbDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> CustomerPage:
    """Customers at high risk who never complained (and have not cancelled), riskiest first."""
    return service.customer_page(db, tenant.id, service.SILENT_DETRACTORS, limit, cursor)


@router.get("/reconciliation", response_model=Reconciliation)
def reconciliation(tenant: TenantDep, db: DbDep) -> dict[str, Any]:
    """Every profile checked against its feedback, complaints and interactions."""
    with db.transaction() as conn:
        return customers_store.reconcile(conn, tenant.id)


_CSV_COLUMNS = (
    "ref",
    "segment",
    "segment_source",
    "risk_score",
    "risk_band",
    "last_contact_at",
    "feedback_count",
    "order_count",
    "revenue",
    "nps_real",
    "csat_inferred",
    "reasons",
    "topics",
)


@router.get(
    "/lists/{name}",
    response_model=LoopPage,
    responses={
        200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv"},
        400: {"description": "Bad cursor"},
    },
)
def loop_list(
    name: LoopList,
    tenant: TenantDep,
    db: DbDep,
    format: Literal["json", "csv"] = "json",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Any:
    """The NPS loop lists: detractors (recover), passives (lift), promoters (advocacy).

    Promoters are those at low risk: referral and review candidates. ``format=csv``
    exports the page as CSV (raise ``limit`` for the whole list).
    """
    page = service.loop_page(db, tenant.id, name, limit, cursor)
    if format == "json":
        return page
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_CSV_COLUMNS)
    for e in page.items:
        row = e.model_dump(mode="json")
        row["reasons"] = ";".join(r["code"] for r in row["reasons"])
        row["topics"] = ";".join(row["topics"])
        writer.writerow([row[c] for c in _CSV_COLUMNS])
    headers = {"Content-Disposition": f'attachment; filename="{name}.csv"'}
    if page.next_cursor:
        headers["X-Next-Cursor"] = page.next_cursor
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/loyalty", response_model=LoyaltyReport)
def loyalty(
    tenant: TenantDep,
    db: DbDep,
    period: Literal["week", "month", "quarter"] = "month",
    periods: Annotated[int, Query(ge=1, le=60, description="How many, up to now.")] = 12,
) -> dict[str, Any]:
    """Repeat-purchase rate, revenue per customer and churn by NPS class and CSAT band.

    From the interactions, per UTC period, the last ``periods`` of them, oldest first.
    """
    return service.loyalty_report(db, tenant.id, period, periods)


@router.get("/settings", response_model=CustomerSettings)
def get_settings(tenant: TenantDep, db: DbDep) -> CustomerSettings:
    """Your customer settings (the defaults until you set them)."""
    with db.transaction() as conn:
        return load_settings(customers_store.get_settings(conn, tenant.id))


@router.put("/settings", response_model=CustomerSettings)
def put_settings(body: CustomerSettings, tenant: TenantDep, db: DbDep) -> CustomerSettings:
    """Replace your customer settings; they apply from the next scoring on."""
    with db.transaction() as conn:
        customers_store.put_settings(conn, tenant.id, body.model_dump(mode="json"))
    return body


@router.get(
    "/{ref:path}", response_model=CustomerDetail, responses={404: {"description": "Not found"}}
)
def get_customer(ref: str, tenant: TenantDep, db: DbDep) -> dict[str, Any]:
    """One customer: the profile, the timeline across channels, cases and segment history."""
    if "\x00" in ref:  # Postgres text cannot hold NUL, so no stored ref has one
        raise ApiError(404, "not_found", "No customer with this ref.")
    return service.customer_detail(db, tenant.id, ref)
