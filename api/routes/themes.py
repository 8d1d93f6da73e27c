"""Themes: topics grouped one level up; their figures, drivers, trends and analyst edits."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api import topic_reports
from api.auth import TenantDep
from api.deps import DbDep
from api.errors import ApiError
from api.routes.topics import FilterDep, IntervalQ, TopicId, fit_summary
from api.schemas import StorableStr
from store import themes as themes_store
from store import topics as topics_store

router = APIRouter(prefix="/v1/themes", tags=["topics"])
topic_theme_router = APIRouter(prefix="/v1/topics", tags=["topics"])

ThemeId = Annotated[int, Path(ge=0, le=2**31 - 1, description="A theme id.")]


class ThemeEdit(BaseModel):
    """Rename a theme (``label``; null resets it to the name made from its topics)."""

    model_config = ConfigDict(extra="forbid")

    label: Annotated[StorableStr, Field(min_length=1, max_length=200)] | None


class TopicMove(BaseModel):
    """Put a topic in another theme (refits keep it there), or null: out of its theme until
    the next refit places it."""

    model_config = ConfigDict(extra="forbid")

    theme_id: int | None = Field(ge=0, le=2**31 - 1)


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "No such theme.")


@router.get("", summary="Themes with their topics and figures")
def list_themes(
    tenant: TenantDep,
    db: DbDep,
    flt: FilterDep,
    interval: IntervalQ = "day",
) -> dict[str, Any]:
    """Per theme: the figures a topic has (size, share, sentiment, CSAT, complaints, NPS,
    channels, languages, trend) and its topics with theirs; largest first."""
    report = topic_reports.theme_report(db, tenant.id, flt, interval)
    return {
        "total": report.total,
        "unthemed": report.unthemed,
        "overall_csat": report.overall_csat,
        "fit": fit_summary(report.fit),
        "themes": report.themes,
    }


@router.get("/drivers", summary="Themes ranked by their impact on overall CSAT")
def drivers(
    tenant: TenantDep,
    db: DbDep,
    flt: FilterDep,
) -> dict[str, Any]:
    """Each theme's ``csat_impact``, computed as a topic's is; worst first."""
    report = topic_reports.theme_report(db, tenant.id, flt)
    return {
        "overall_csat": report.overall_csat,
        "drivers": topic_reports.drivers(report.themes, report.overall_csat, "theme_id"),
    }


@router.get("/trends", summary="Themes over time")
def trends(
    tenant: TenantDep,
    db: DbDep,
    flt: FilterDep,
    interval: IntervalQ = "week",
) -> dict[str, Any]:
    """Item counts per theme per day or week, on one shared list of periods."""
    report = topic_reports.theme_report(db, tenant.id, flt, interval)
    return {"interval": interval, **topic_reports.over_time(report.themes, "theme_id")}


@router.get("/{theme_id}", summary="One theme in detail")
def get_theme(
    theme_id: ThemeId,
    tenant: TenantDep,
    db: DbDep,
    flt: FilterDep,
    quotes: Annotated[int, Query(ge=0, le=50)] = 8,
) -> dict[str, Any]:
    """A theme's figures, its topics, representative quotes taken in turn from its topics
    (each with its topic), and trends per day and per week."""
    detail = topic_reports.theme_detail(db, tenant.id, theme_id, flt, quotes)
    if detail is None:
        raise _not_found()
    return detail


@router.patch("/{theme_id}", summary="Rename a theme")
def edit_theme(theme_id: ThemeId, body: ThemeEdit, tenant: TenantDep, db: DbDep) -> dict[str, Any]:
    """The name is kept across refits while the theme keeps most of its topics."""
    with db.transaction() as conn:
        if not themes_store.rename_theme(conn, tenant.id, theme_id, body.label):
            raise _not_found()
        theme = themes_store.get_theme(conn, tenant.id, theme_id)
    assert theme is not None
    return _stored_theme(theme)


@topic_theme_router.put("/{topic_id}/theme", summary="Move a topic to another theme")
def move_topic(topic_id: TopicId, body: TopicMove, tenant: TenantDep, db: DbDep) -> dict[str, Any]:
    """The topic stays in ``theme_id`` across refits (it is left out of the grouping);
    ``theme_id: null`` takes it out of its theme until the next refit places it."""
    with db.transaction() as conn:
        try:
            themes_store.move_topic(conn, tenant.id, topic_id, body.theme_id)
        except LookupError as exc:
            raise ApiError(404, "not_found", str(exc).capitalize() + ".") from exc
        except themes_store.MoveError as exc:
            raise ApiError(422, "invalid_move", str(exc).capitalize() + ".") from exc
        topic = topics_store.get_topic(conn, tenant.id, topic_id)
    assert topic is not None
    return {
        "id": topic["id"],
        "label": topic["name"],
        "theme_id": topic["theme_id"],
        "theme_pinned": topic["theme_pinned"],
    }


def _stored_theme(theme: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": theme["id"],
        "label": theme["name"],
        "auto_label": theme["auto_label"],
        "custom_label": theme["label"],
        "active": theme["active"],
    }
