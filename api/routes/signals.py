"""Inferred CSAT and NPS series, side by side with real star ratings and survey scores."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, Field

from api.auth import TenantDep
from api.deps import DbDep
from api.errors import ApiError
from api.schemas import Channel
from store import signals as signals_store
from store import themes as themes_store
from store import topics as topics_store
from workers.signals import segment_figures

router = APIRouter(prefix="/v1/signals", tags=["signals"])


class SignalPoint(BaseModel):
    """One period of one segment. Percentages are 0-100; NPS is -100..100; intervals are 95%."""

    period_start: datetime
    channel: str | None = None
    language: str | None = None
    topic_id: int | None = Field(
        default=None, description="With by=topic: the topic (merges resolved; -1: none)."
    )
    topic_label: str | None = None
    theme_id: int | None = Field(
        default=None, description="With by=theme: the theme of the item's topic (-1: none)."
    )
    theme_label: str | None = None
    n: int = Field(description="Analysed items in the segment.")
    inferred_csat_pct: float | None = Field(description="Mean inferred P(4-5 stars), in %.")
    inferred_csat_ci: list[float] | None
    inferred_nps: float | None
    inferred_nps_ci: list[float] | None
    rated_n: int = Field(description="Items with a real star rating.")
    real_csat_pct: float | None = Field(description="Share of real ratings of 4-5 stars, in %.")
    real_csat_ci: list[float] | None
    csat_calibration_error_pct: float | None = Field(
        description="Inferred minus real CSAT on the rated items, in points."
    )
    stars_mae: float | None = Field(description="Mean |expected stars - real stars|.")
    surveyed_n: int = Field(description="Items with a real NPS answer (0-10).")
    real_nps: float | None
    real_nps_ci: list[float] | None
    nps_calibration_error: float | None = Field(
        description="Inferred minus real NPS on the surveyed items."
    )


class SignalSeries(BaseModel):
    """A CSAT/NPS series, oldest period first."""

    period: Literal["day", "week"]
    by: list[str]
    points: list[SignalPoint]


@router.get("/csat", response_model=SignalSeries, responses={422: {"description": "Bad input"}})
def csat_series(
    tenant: TenantDep,
    db: DbDep,
    period: Literal["day", "week"] = "day",
    by: Annotated[
        list[Literal["channel", "language", "topic", "theme"]] | None,
        Query(description="Split each period by these dimensions."),
    ] = None,
    channel: Channel | None = None,
    language: Literal["vi", "en", "mixed", "other"] | None = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
) -> SignalSeries:
    """Inferred CSAT % and NPS per day or week (UTC), optionally per channel, language,
    topic and theme."""
    if since and until and since >= until:
        raise ApiError(422, "invalid_range", "'since' must be before 'until'.")
    dims: list[str] = sorted(set(by or []))
    with db.transaction() as conn:
        rows = signals_store.series(conn, tenant.id, period, since, until, dims, channel, language)
        topics = (
            {t["id"]: t["name"] for t in topics_store.list_topics(conn, tenant.id)}
            if "topic" in dims
            else {}
        )
        themes = (
            {t["id"]: t["name"] for t in themes_store.list_themes(conn, tenant.id)}
            if "theme" in dims
            else {}
        )
    points = [
        SignalPoint(
            period_start=r["period_start"],
            channel=r.get("channel"),
            language=r.get("language"),
            topic_id=r.get("topic_id"),
            topic_label=topics.get(r.get("topic_id", -1)),
            theme_id=r.get("theme_id"),
            theme_label=themes.get(r.get("theme_id", -1)),
            **segment_figures(r),
        )
        for r in rows
    ]
    return SignalSeries(period=period, by=dims, points=points)
