"""Customers: accepting interactions and reading profiles. Shared by the API, CLI and dashboard."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import TypeAdapter, ValidationError

from api.bodies import decode_batch, invalid
from api.customers.schemas import (
    CustomerOut,
    CustomerPage,
    InteractionBatchIn,
    InteractionIn,
    LoopEntry,
    LoopList,
    LoopPage,
)
from api.errors import ApiError
from store import customers as customers_store
from store import events as events_store
from store import interactions as interactions_store
from store.db import Database
from workers.customer_risk import InteractionFact
from workers.customer_surveys import suggest_surveys
from workers.customers import load_settings

INTERACTION = TypeAdapter(InteractionIn)
BATCH = TypeAdapter(InteractionBatchIn)
ITEMS = TypeAdapter(list[InteractionIn])


def parse_interactions_body(raw: bytes, max_request_bytes: int, max_items: int) -> list[Any]:
    """Decode and validate a POST body (one interaction or ``{"items": [...]}``), or raise a 4xx.

    CPU-bound on a large batch: call it from a worker thread, not the event loop.
    """
    if len(raw) > max_request_bytes:
        raise ApiError(413, "request_too_large", "The request body is too large.")
    if b'"items"' in raw:
        # Fast path: pydantic-core parses and validates the JSON in one pass, several
        # times faster than json.loads and then validating the objects. The schema bounds
        # every number it keeps (value, the attributes) as decode_batch does, so what it
        # accepts the slow path accepts too; any failure takes the slow path below, which
        # gives the precise 4xx (invalid_json, invalid_number, batch_too_large, ...).
        try:
            items = BATCH.validate_json(raw).items
        except ValidationError:
            pass
        else:
            if len(items) <= max_items:
                return list(items)
    document, is_batch = decode_batch(raw, max_items, "interactions")
    try:
        if is_batch:
            return list(InteractionBatchIn.model_validate(document).items)
        return [INTERACTION.validate_python(document)]
    except ValidationError as exc:
        raise invalid(exc) from exc


def to_new_interaction(item: Any) -> interactions_store.NewInteraction:
    """The row to store for a validated interaction."""
    attributes = item.attributes
    if not isinstance(attributes, dict):
        # The serializer itself: model_dump's wrapper costs as much again, once per item.
        attributes = attributes.__pydantic_serializer__.to_python(
            attributes, mode="json", exclude_none=True
        )
    return interactions_store.NewInteraction(
        source=item.source,
        customer_ref=item.customer_ref,
        type=item.type,
        occurred_at=item.occurred_at,
        external_id=item.external_id,
        value=item.value,
        attributes=attributes,
    )


def store_interactions(
    db: Database, tenant_id: UUID, items: Sequence[Any]
) -> interactions_store.BatchOutcome:
    """Insert validated interactions in one transaction (customers marked dirty); returns
    after commit, with the outcome JSON the API answers with.

    The items go to Postgres as one JSON array serialised by pydantic-core (exclude_none:
    a missing key is stored as null, as ``to_new_interaction`` stores ``None``). The
    ``survey.suggested`` events the new rows call for (workers.customer_surveys) are
    appended to the outbox in the same transaction.
    """
    document = ITEMS.dump_json(list(items), exclude_none=True).decode()
    with db.transaction() as conn:
        outcome = interactions_store.insert_interactions_json(conn, tenant_id, document)
        policy = load_settings(customers_store.get_settings(conn, tenant_id)).surveys
        if policy.enabled and outcome.accepted:  # else nothing to build: most tenants
            fresh = []
            for inserted, item in zip(outcome.inserted(), items, strict=True):
                if not inserted.duplicate:
                    r = to_new_interaction(item)
                    fact = InteractionFact(
                        str(inserted.id), r.type, r.occurred_at, r.value, r.attributes
                    )
                    fresh.append((inserted.id, fact, r.customer_ref))
            events = suggest_surveys(conn, tenant_id, policy, fresh, datetime.now(UTC))
            events_store.append_events(conn, tenant_id, events)
        return outcome


def encode_cursor(risk: float, ref: str) -> str:
    """A cursor just after the (sort risk, ref) of a row."""
    raw = json.dumps([risk, ref], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    """The (sort risk, ref) inside a cursor, or 400 if it was not made by us."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        risk, ref = json.loads(raw)
        if not isinstance(ref, str) or not isinstance(risk, int | float) or "\x00" in ref:
            raise ValueError("not a cursor")
        return float(risk), ref
    except (ValueError, TypeError) as exc:
        raise ApiError(400, "invalid_cursor", "The cursor is not valid.") from exc


def customer_page(
    db: Database,
    tenant_id: UUID,
    filters: customers_store.CustomerFilter,
    limit: int,
    cursor: str | None,
) -> CustomerPage:
    """One page of profiles matching ``filters``, riskiest first, with the total count."""
    after = decode_cursor(cursor) if cursor else None
    with db.transaction() as conn:
        rows = customers_store.list_customers(conn, tenant_id, filters, limit, after)
        count = customers_store.count_customers(conn, tenant_id, filters)
    next_cursor = (
        encode_cursor(rows[-1]["sort_risk"], rows[-1]["ref"]) if len(rows) == limit else None
    )
    return CustomerPage(
        items=[CustomerOut(**profile_out(r)) for r in rows], count=count, next_cursor=next_cursor
    )


# High risk, no complaint ever, not cancelled.
SILENT_DETRACTORS = customers_store.CustomerFilter(risk_band="high", silent=True, cancelled=False)
# Each loop list: the segment, and the band that keeps it to those it is for.
LOOPS: dict[str, customers_store.CustomerFilter] = {
    "detractors": customers_store.CustomerFilter(segment="detractor", cancelled=False),
    "passives": customers_store.CustomerFilter(segment="passive", cancelled=False),
    "promoters": customers_store.CustomerFilter(
        segment="promoter", risk_band="low", cancelled=False
    ),
}


def loop_page(
    db: Database, tenant_id: UUID, name: LoopList, limit: int, cursor: str | None
) -> LoopPage:
    """One page of a loop list; passives carry the topics of their lukewarm feedback."""
    page = customer_page(db, tenant_id, LOOPS[name], limit, cursor)
    refs = [c.ref for c in page.items]
    topics: dict[str, list[str]] = {}
    if name == "passives" and refs:
        with db.transaction() as conn:
            topics = customers_store.lukewarm_topics(conn, tenant_id, refs)
    entries = [LoopEntry(**c.model_dump(), topics=topics.get(c.ref, [])) for c in page.items]
    return LoopPage(name=name, items=entries, count=page.count, next_cursor=page.next_cursor)


def profile_out(row: dict[str, Any]) -> dict[str, Any]:
    """A stored profile as ``CustomerOut`` fields."""
    n = min(row["feedback_count"], 10)
    mean, sd = row["csat_inferred"], row["csat_inferred_sd"]
    interval = None
    if mean is not None and sd is not None and n >= 2:
        half = 1.96 * sd / math.sqrt(n)
        interval = (round(max(1.0, mean - half), 3), round(min(5.0, mean + half), 3))
    return {
        **{k: row[k] for k in row if k not in ("risk_reasons", "dirty", "sort_risk")},
        "csat_inferred_interval": interval,
        "silent": row["complaint_count"] == 0,
        "reasons": row["risk_reasons"] or [],
    }


def _feedback_entry(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "feedback",
        "id": row["id"],
        "at": row["at"],
        "type": row["channel"],
        "source": row["source"],
        "external_id": row["external_id"],
        "summary": {
            "excerpt": row["excerpt"],
            "sentiment": row["sentiment"],
            "csat_expected": row["csat_expected"],
            "nps_class": row["nps_class"],
            "complaint": row["complaint"],
            "category": row["complaint_category"],
            "severity": row["severity"],
            "churn_risk": row["churn_risk"],
            "rating": row["rating"],
            "survey_score": row["survey_score"],
            "complaint_id": str(row["complaint_id"]) if row["complaint_id"] else None,
            "complaint_status": row["complaint_status"],
        },
    }


def _interaction_entry(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "interaction",
        "id": row["id"],
        "at": row["occurred_at"],
        "type": row["type"],
        "source": row["source"],
        "external_id": row["external_id"],
        "summary": {"value": row["value"], **(row["attributes"] or {})},
    }


def customer_detail(db: Database, tenant_id: UUID, ref: str) -> dict[str, Any]:
    """A profile with its timeline (newest first), cases and segment history, or 404."""
    with db.transaction() as conn:
        row = customers_store.get_customer(conn, tenant_id, ref)
        if row is None or (row["dirty"] and row["scored_at"] is None):
            raise ApiError(404, "not_found", "No customer with this ref.")
        feedback = customers_store.feedback_of(conn, tenant_id, [ref])[ref]
        interactions = interactions_store.interactions_of(conn, tenant_id, [ref])[ref]
        cases = customers_store.complaints_of(conn, tenant_id, ref)
        history = customers_store.segment_history(conn, tenant_id, ref)
    timeline = [_feedback_entry(r) for r in feedback] + [
        _interaction_entry(r) for r in interactions
    ]
    timeline.sort(key=lambda e: (e["at"], str(e["id"])), reverse=True)
    return {**profile_out(row), "timeline": timeline, "cases": cases, "segment_history": history}


LOYALTY_CLASSES = {
    "nps_class": ("promoter", "passive", "detractor", "unknown"),
    "csat_band": ("high", "neutral", "low", "unknown"),
}


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def loyalty_report(db: Database, tenant_id: UUID, period: str, periods: int) -> dict[str, Any]:
    """The loyalty report (``LoyaltyReport`` fields) over the last ``periods`` periods."""
    with db.transaction() as conn:
        rows = customers_store.loyalty(conn, tenant_id, period, periods, datetime.now(UTC))
    by_start: dict[datetime, dict[str, Any]] = {}
    for r in rows:
        entry = by_start.setdefault(r["start"], {"start": r["start"], "end": r["end"], "cells": {}})
        if r["dimension"] is not None:
            entry["cells"][(r["dimension"], r["class"])] = r
    out = []
    for entry in by_start.values():
        cells = entry.pop("cells")
        report: dict[str, Any] = {
            **entry,
            "customers": sum(c["customers"] for (d, _), c in cells.items() if d == "nps_class"),
        }
        for dimension, names in LOYALTY_CLASSES.items():
            report[dimension] = []
            for name in names:
                c = cells.get((dimension, name))
                n = c["customers"] if c else 0
                report[dimension].append(
                    {
                        "name": name,
                        "customers": n,
                        "buyers": c["buyers"] if c else 0,
                        "repeat_purchase_rate": _ratio(c["repeat_buyers"], c["buyers"])
                        if c
                        else None,
                        "revenue": round(c["revenue"], 2) if c else 0.0,
                        "revenue_per_customer": _ratio(c["revenue"], n) if c else None,
                        "churn_rate": _ratio(c["cancelled"], n) if c else None,
                        "lapse_rate": _ratio(c["lapsed"], n) if c and c["lapse_known"] else None,
                    }
                )
        out.append(report)
    return {"period": period, "periods": out}
