"""A worker's analysis written to a real Postgres: the analysis row, its aspects and events."""

from __future__ import annotations

import pytest

from nlp.pipeline import Pipeline
from store import events as events_store
from store import feedback as feedback_store
from store.db import Database
from tests.conftest import TenantKey
from workers.analysis import analyze_batch

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hotel_pipeline() -> Pipeline:
    """The shipped models, with the hotel aspect model switched on."""
    return Pipeline(aspect_domain="hotel")


def test_aspects_are_stored_with_spans_into_the_stored_text(
    db: Database, tenant: TenantKey, hotel_pipeline: Pipeline
) -> None:
    text = "Phòng rất sạch sẽ, view đẹp. Nhưng nhân viên lễ tân thái độ rất tệ."
    with db.transaction() as conn:
        (inserted,) = feedback_store.insert_feedback(
            conn,
            tenant.id,
            [feedback_store.NewFeedback(source="booking", channel="review", text=text)],
        )
    assert analyze_batch(db, hotel_pipeline, [inserted.id], max_attempts=3) == 1
    with db.transaction() as conn:
        item = feedback_store.get_feedback(conn, tenant.id, inserted.id)
        events = events_store.list_events(conn, tenant.id, after=0, limit=10)
    assert item is not None and item["status"] == "done"
    aspects = item["analysis"]["aspects"]
    assert aspects, "the hotel model found no aspect in a text about a room and the staff"
    for aspect in aspects:
        span = aspect["span"]
        assert item["text"][span["start"] : span["end"]] == span["text"]
        assert aspect["polarity"] in ("negative", "neutral", "positive")
    analyzed = [e for e in events if e["type"] == "feedback.analyzed"]
    assert analyzed and analyzed[-1]["data"]["aspects"] == aspects
    assert "aspects" in item["analysis"]["model_versions"]
