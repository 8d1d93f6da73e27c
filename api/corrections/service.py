"""Correcting an item's analysis: shared by the JSON API and the inbox pages.

One transaction stores the correction as a label (who, when) and appends its
``feedback.corrected`` event to the outbox. The stored analysis stays as the model
gave it, so the two can be shown side by side and the tenant's retraining can
compare the heads in force with a refit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

from fastapi import Request

from api.corrections.schemas import CorrectionIn
from api.errors import ApiError
from models import load_manifest
from store import corrections as corrections_store
from store import events as events_store
from store import feedback as feedback_store
from store import taxonomy as taxonomy_store
from store.db import Database
from workers.events import FEEDBACK_CORRECTED
from workers.taxonomy import tenant_categories

_MODEL_FIELDS = {
    "sentiment": "sentiment",
    "complaint": "complaint",
    "category": "complaint_category",
    "churn_risk": "churn_risk",
    "severity": "severity",
}


def actor_for(request: Request) -> str:
    """Who acts: the API key, by the prefix stored beside its hash (``key:lng_xxxxxxxx``)."""
    credentials = request.headers.get("authorization", "")
    token = credentials.split(" ", 1)[1].strip() if " " in credentials else ""
    return f"key:{token[:12]}"


def correct(
    db: Database, tenant_id: UUID, feedback_id: UUID, body: CorrectionIn, actor: str
) -> dict[str, Any]:
    """Store a correction and its event; 404, 409 ``not_analyzed`` or 422 otherwise."""
    values = body.model_dump(exclude_none=True, exclude={"note"})
    if not values:
        raise ApiError(
            422,
            "empty_correction",
            "Correct at least one of: " + ", ".join(corrections_store.FIELDS) + ".",
        )
    with db.transaction() as conn:
        item = feedback_store.get_feedback(conn, tenant_id, feedback_id)
        if item is None:
            raise ApiError(404, "not_found", "No feedback with this id.")
        analysis = item["analysis"]
        if analysis is None:
            raise ApiError(409, "not_analyzed", "The item has no analysis yet to correct.")
        if "category" in values:
            known = tenant_categories(conn, tenant_id)
            if values["category"] not in known:
                raise ApiError(
                    422,
                    "unknown_category",
                    f"{values['category']!r} is not one of the tenant's categories.",
                    {"known": known},
                )
        row = corrections_store.insert_correction(
            conn, tenant_id, feedback_id, values, actor, body.note
        )
        events_store.append_events(
            conn,
            tenant_id,
            [
                events_store.NewEvent(
                    FEEDBACK_CORRECTED,
                    {
                        "feedback_id": str(feedback_id),
                        "correction_id": str(row["id"]),
                        "actor": actor,
                        "note": body.note,
                        "corrected": values,
                        "model": {f: analysis[_MODEL_FIELDS[f]] for f in values},
                        "created_at": row["created_at"].isoformat(),
                    },
                )
            ],
        )
    return row


def corrections_of(db: Database, tenant_id: UUID, feedback_id: UUID) -> dict[str, Any]:
    """An item's corrections and their merged latest values, or 404."""
    with db.transaction() as conn:
        if feedback_store.get_feedback(conn, tenant_id, feedback_id) is None:
            raise ApiError(404, "not_found", "No feedback with this id.")
        items = corrections_store.list_for_item(conn, tenant_id, feedback_id)
    return {"items": items, "merged": corrections_store.merged(items)}


def models_overview(db: Database, tenant_id: UUID, models_dir: Path | None) -> dict[str, Any]:
    """The shipped versions, the tenant's heads in force, their history and its runs."""
    manifest = load_manifest(models_dir)
    shipped = {"encoder": manifest["encoder"]}
    shipped.update({name: h["version"] for name, h in manifest["heads"].items()})
    with db.transaction() as conn:
        active = corrections_store.active_models(conn, tenant_id)
        history = corrections_store.model_history(conn, tenant_id)
        runs = corrections_store.list_runs(conn, tenant_id)
        taxonomy = taxonomy_store.get_taxonomy(conn, tenant_id)
    return {
        "shipped": shipped,
        "active": active,
        "history": history,
        "runs": runs,
        "taxonomy": taxonomy,
    }
