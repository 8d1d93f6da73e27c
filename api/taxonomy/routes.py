"""``/v1/taxonomy``: the tenant's own complaint categories and re-categorisation jobs."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.auth import TenantDep
from api.corrections.service import actor_for
from api.deps import DbDep, QueueDep
from api.taxonomy import service
from api.taxonomy.schemas import (
    CategoryIn,
    CategoryList,
    CategoryOut,
    CategoryPatch,
    JobOut,
    ModeIn,
    TaxonomyOut,
)

router = APIRouter(prefix="/v1/taxonomy", tags=["taxonomy"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such category or job"}}


@router.get("", response_model=TaxonomyOut)
def get_taxonomy(tenant: TenantDep, db: DbDep) -> dict[str, Any]:
    """The categories in force, the tenant's own ones, and the latest re-categorisation job."""
    return service.overview(db, tenant.id)


@router.put("", response_model=TaxonomyOut)
def put_taxonomy(body: ModeIn, tenant: TenantDep, db: DbDep) -> dict[str, Any]:
    """Set whether the tenant's categories replace the default eight or extend them."""
    service.set_mode(db, tenant.id, body.mode)
    return service.overview(db, tenant.id)


@router.get("/categories", response_model=CategoryList)
def list_categories(tenant: TenantDep, db: DbDep) -> dict[str, Any]:
    """The tenant's own categories with their examples."""
    return {"items": service.overview(db, tenant.id)["own"]}


@router.post(
    "/categories",
    status_code=201,
    response_model=CategoryOut,
    responses={409: {"description": "The name is taken"}, 422: {"description": "Invalid"}},
)
def create_category(body: CategoryIn, tenant: TenantDep, db: DbDep) -> dict[str, Any]:
    """Add a category; it applies to new analyses at once (few-shot on its examples)."""
    return service.create_category(db, tenant.id, body)


@router.get("/categories/{name}", response_model=CategoryOut, responses=_NOT_FOUND)
def get_category(name: str, tenant: TenantDep, db: DbDep) -> dict[str, Any]:
    """One of the tenant's categories."""
    return service.get_category(db, tenant.id, name)


@router.patch("/categories/{name}", response_model=CategoryOut, responses=_NOT_FOUND)
def patch_category(name: str, body: CategoryPatch, tenant: TenantDep, db: DbDep) -> dict[str, Any]:
    """Change a category's description, replace its examples, or add examples."""
    return service.update_category(db, tenant.id, name, body)


@router.delete("/categories/{name}", status_code=204, responses=_NOT_FOUND)
def delete_category(name: str, tenant: TenantDep, db: DbDep) -> Response:
    """Remove a category; stored analyses keep it until re-categorised."""
    service.delete_category(db, tenant.id, name)
    return Response(status_code=204)


@router.post(
    "/recategorize",
    status_code=202,
    response_model=JobOut,
    responses={409: {"description": "No taxonomy, or a job already running"}},
)
async def recategorize(
    request: Request, tenant: TenantDep, db: DbDep, queue: QueueDep
) -> dict[str, Any]:
    """Queue a job that re-categorises stored analyses with the current taxonomy."""
    return await run_in_threadpool(
        service.request_recategorize, db, queue, tenant.id, actor_for(request)
    )


@router.get("/jobs/{job_id}", response_model=JobOut, responses=_NOT_FOUND)
def get_job(job_id: UUID, tenant: TenantDep, db: DbDep) -> dict[str, Any]:
    """A re-categorisation job's status and progress."""
    return service.get_job(db, tenant.id, job_id)
