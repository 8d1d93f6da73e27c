"""``/v1/feedback/{id}/corrections`` and ``/v1/models``: labels from people, tenant heads."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from api.auth import TenantDep
from api.corrections import service
from api.corrections.schemas import CorrectionIn, CorrectionList, CorrectionOut, ModelsOut
from api.deps import DbDep, SettingsDep

router = APIRouter(prefix="/v1/feedback", tags=["corrections"])
models_router = APIRouter(prefix="/v1/models", tags=["corrections"])


@router.post(
    "/{feedback_id}/corrections",
    status_code=201,
    response_model=CorrectionOut,
    responses={
        404: {"description": "No such item"},
        409: {"description": "Not analysed yet"},
        422: {"description": "Nothing corrected, or an unknown category"},
    },
)
async def post_correction(
    feedback_id: UUID, body: CorrectionIn, request: Request, tenant: TenantDep, db: DbDep
) -> dict[str, Any]:
    """Correct an item's sentiment, complaint, category, churn risk or severity."""
    return await run_in_threadpool(
        service.correct, db, tenant.id, feedback_id, body, service.actor_for(request)
    )


@router.get(
    "/{feedback_id}/corrections",
    response_model=CorrectionList,
    responses={404: {"description": "No such item"}},
)
def list_corrections(feedback_id: UUID, tenant: TenantDep, db: DbDep) -> dict[str, Any]:
    """An item's corrections, oldest first, with the latest value of each field."""
    return service.corrections_of(db, tenant.id, feedback_id)


@models_router.get("", response_model=ModelsOut)
def get_models(tenant: TenantDep, db: DbDep, settings: SettingsDep) -> dict[str, Any]:
    """The shipped model versions, the tenant's refitted heads in force, and their history."""
    return service.models_overview(db, tenant.id, settings.models_dir)
