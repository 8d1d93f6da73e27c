"""Topic reports, analyst edits and refits."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api import topic_reports
from api.auth import TenantDep
from api.deps import DbDep, QueueDep
from api.errors import ApiError
from api.schemas import Channel, StorableStr
from store import topics as topics_store
from store.db import Database
from store.topic_reports import ReportFilter
from workers.enqueue import enqueue_topic_refit

router = APIRouter(prefix="/v1/topics", tags=["topics"])
reports_router = APIRouter(prefix="/v1/reports", tags=["topics"])

Language = Literal["vi", "en", "mixed", "other"]
StartQ = Annotated[AwareDatetime | None, Query(description="Items at or after (ISO 8601).")]
EndQ = Annotated[AwareDatetime | None, Query(description="Items before (ISO 8601).")]
ChannelQ = Annotated[list[Channel] | None, Query(description="Only these channels.")]
LanguageQ = Annotated[list[Language] | None, Query(description="Only these languages.")]
IntervalQ = Annotated[Literal["day", "week"], Query(description="Trend buckets.")]


def report_filter(
    start: StartQ = None,
    end: EndQ = None,
    channel: ChannelQ = None,
    language: LanguageQ = None,
) -> ReportFilter:
    """The filter of a report request from its query (a dependency), or 422 when the range
    is empty."""
    if start is not None and end is not None and start >= end:
        raise ApiError(422, "invalid_range", "'start' must be before 'end'.")
    return ReportFilter(
        start=start,
        end=end,
        channels=tuple(channel) if channel else None,
        languages=tuple(language) if language else None,
    )


FilterDep = Annotated[ReportFilter, Depends(report_filter)]
"""start, end, channel and language of a topic or theme report, as one filter."""


class TopicEdit(BaseModel):
    """Rename a topic (``label``; null resets to the keywords) or mark it as noise."""

    model_config = ConfigDict(extra="forbid")

    label: Annotated[StorableStr, Field(min_length=1, max_length=200)] | None = None
    is_noise: bool | None = None


class TopicMerge(BaseModel):
    """Merge this topic into another; its items then count under that one."""

    model_config = ConfigDict(extra="forbid")

    into: int = Field(ge=0, le=2**31 - 1)


TopicId = Annotated[int, Path(ge=0, le=2**31 - 1, description="A topic id.")]


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "No such topic.")


@router.get("", summary="Topics with their figures")
def list_topics(
    tenant: TenantDep,
    db: DbDep,
    flt: FilterDep,
    interval: IntervalQ = "day",
    include_noise: bool = False,
) -> dict[str, Any]:
    """Per topic: size, share, label, keywords, sentiment mix, mean inferred CSAT, complaint
    rate, NPS, channels, languages and a count trend; largest first."""
    report = topic_reports.topic_report(db, tenant.id, flt, include_noise, interval)
    return {
        "total": report.total,
        "unassigned": report.unassigned,
        "overall_csat": report.overall_csat,
        "fit": fit_summary(report.fit),
        "topics": report.topics,
    }


@router.get("/drivers", summary="Topics ranked by their impact on overall CSAT")
def drivers(
    tenant: TenantDep,
    db: DbDep,
    flt: FilterDep,
) -> dict[str, Any]:
    """Each topic's ``csat_impact``: the overall mean inferred CSAT minus what it would be if
    the topic's items scored like the rest (negative: it pulls CSAT down); worst first."""
    report = topic_reports.topic_report(db, tenant.id, flt)
    return {
        "overall_csat": report.overall_csat,
        "drivers": topic_reports.drivers(report.topics, report.overall_csat),
    }


@router.get("/trends", summary="Topics over time")
def trends(
    tenant: TenantDep,
    db: DbDep,
    flt: FilterDep,
    interval: IntervalQ = "week",
) -> dict[str, Any]:
    """Item counts per topic per day or week, on one shared list of periods."""
    report = topic_reports.topic_report(db, tenant.id, flt, interval=interval)
    return {"interval": interval, **topic_reports.over_time(report.topics)}


@router.post("/refit", status_code=202, summary="Refit the topics now")
def refit(tenant: TenantDep, db: DbDep, queue: QueueDep) -> dict[str, Any]:
    """Queue a refit of your topics on every analysed item; poll ``GET /v1/topics/fit``."""
    with db.transaction() as conn:
        if topics_store.running_fit(conn, tenant.id, 6 * 3600):
            raise ApiError(409, "refit_running", "A refit is already running.")
    if not enqueue_topic_refit(queue, tenant.id):
        raise ApiError(503, "queue_unavailable", "The task queue is not reachable; retry later.")
    return {"queued": True}


@router.get("/fit", summary="The latest fit")
def latest_fit(tenant: TenantDep, db: DbDep) -> dict[str, Any]:
    """Status and figures of the most recent refit (null before the first one)."""
    with db.transaction() as conn:
        return {"fit": fit_summary(topics_store.latest_fit(conn, tenant.id))}


@router.get("/{topic_id}", summary="One topic in detail")
def get_topic(
    topic_id: TopicId,
    tenant: TenantDep,
    db: DbDep,
    flt: FilterDep,
    quotes: Annotated[int, Query(ge=0, le=50)] = 8,
) -> dict[str, Any]:
    """A topic's figures, representative quotes, and trends per day and per week. A topic
    merged into another answers with the topic it counts under."""
    detail = topic_reports.topic_detail(db, tenant.id, topic_id, flt, quotes)
    if detail is None:
        raise _not_found()
    return detail


@router.patch("/{topic_id}", summary="Rename a topic or mark it as noise")
def edit_topic(topic_id: TopicId, body: TopicEdit, tenant: TenantDep, db: DbDep) -> dict[str, Any]:
    """Edits are kept across refits while the topic's centroid keeps matching."""
    fields = body.model_fields_set
    if not fields:
        raise ApiError(422, "validation_error", "Send 'label' and/or 'is_noise'.")
    with db.transaction() as conn:
        found = topics_store.edit_topic(
            conn,
            tenant.id,
            topic_id,
            label=body.label,
            clear_label="label" in fields and body.label is None,
            is_noise=body.is_noise,
        )
        topic = topics_store.get_topic(conn, tenant.id, topic_id)
    if not found or topic is None:
        raise _not_found()
    return _stored(topic)


@router.post("/{topic_id}/merge", summary="Merge a topic into another")
def merge(topic_id: TopicId, body: TopicMerge, tenant: TenantDep, db: DbDep) -> dict[str, Any]:
    """The topic's items count under ``into`` (or the topic ``into`` was merged into)."""
    return _merge(db, tenant.id, topic_id, body.into)


@router.delete("/{topic_id}/merge", summary="Undo a merge")
def unmerge(topic_id: TopicId, tenant: TenantDep, db: DbDep) -> dict[str, Any]:
    """The topic counts on its own again."""
    with db.transaction() as conn:
        if not topics_store.unmerge_topic(conn, tenant.id, topic_id):
            raise _not_found()
        topic = topics_store.get_topic(conn, tenant.id, topic_id)
    assert topic is not None
    return _stored(topic)


@reports_router.get("/csat", summary="Overall inferred CSAT and NPS over time")
async def csat(
    tenant: TenantDep,
    db: DbDep,
    flt: FilterDep,
    interval: IntervalQ = "day",
) -> dict[str, Any]:
    """Mean inferred CSAT (1-5) and NPS (-100..100) per day or week, over every item."""
    series = await run_in_threadpool(topic_reports.csat_trend, db, tenant.id, flt, interval)
    return {"interval": interval, "series": series}


def _merge(db: Database, tenant_id: UUID, source: int, target: int) -> dict[str, Any]:
    with db.transaction() as conn:
        try:
            topics_store.merge_topics(conn, tenant_id, source, target)
        except LookupError as exc:
            raise _not_found() from exc
        except topics_store.MergeError as exc:
            raise ApiError(422, "invalid_merge", str(exc).capitalize() + ".") from exc
        topic = topics_store.get_topic(conn, tenant_id, source)
    assert topic is not None
    return _stored(topic)


def _stored(topic: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": topic["id"],
        "label": topic["name"],
        "auto_label": topic["auto_label"],
        "custom_label": topic["label"],
        "is_noise": topic["is_noise"],
        "merged_into": topic["merged_into"],
        "active": topic["active"],
    }


def fit_summary(fit: dict[str, Any] | None) -> dict[str, Any] | None:
    """The latest fit as the API shows it (its id as a string)."""
    if fit is None:
        return None
    return {k: (str(v) if k == "id" else v) for k, v in fit.items()}
