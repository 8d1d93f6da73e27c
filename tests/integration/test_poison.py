"""Poison values: refused at the door with a 422, and contained where they were stored before.

Each case is one that broke a tenant's reads or analysis before it was bounded.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import httpx
import psycopg
import pytest

from store import dispatch
from store import feedback as feedback_store
from store.db import Database
from tests.conftest import TenantKey, make_tenant
from tests.integration.scripted import ScriptedAnalyzer
from workers.analysis import analyze_batch

pytestmark = pytest.mark.integration


def _post_raw(client: httpx.Client, tenant: TenantKey, body: str) -> httpx.Response:
    headers = {**tenant.headers, "Content-Type": "application/json"}
    return client.post("/v1/feedback", content=body.encode(), headers=headers)


def _detail_types(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    return {d["type"] for d in error["details"]}


@pytest.mark.parametrize(
    "occurred_at",
    [
        "9999-12-31T00:00:00Z",
        "0001-01-01T00:00:00+14:00",
        "1969-12-31T23:59:59Z",
        "2999-01-01T00:00:00Z",
    ],
)
def test_implausible_dates_are_refused(
    client: httpx.Client, tenant: TenantKey, occurred_at: str
) -> None:
    body = {"text": "late", "channel": "review", "occurred_at": occurred_at}
    response = client.post("/v1/feedback", json=body, headers=tenant.headers)
    assert _detail_types(response) == {"date_out_of_range"}


def test_a_plausible_date_is_accepted(client: httpx.Client, tenant: TenantKey) -> None:
    body = {"text": "late", "channel": "review", "occurred_at": "1970-01-01T00:00:00Z"}
    assert client.post("/v1/feedback", json=body, headers=tenant.headers).status_code == 202


@pytest.mark.parametrize(
    "number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1" * 5_000, "1e16"]
)
@pytest.mark.parametrize("where", ["rating", "metadata"])
def test_numbers_no_column_can_hold_are_refused(
    client: httpx.Client, tenant: TenantKey, number: str, where: str
) -> None:
    field = (
        f'"rating": {number}'
        if where == "rating"
        else f'"metadata": {{"customer_value": {number}}}'
    )
    response = _post_raw(client, tenant, f'{{"text": "x", "channel": "review", {field}}}')
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_number"


def test_deep_or_huge_metadata_is_refused(client: httpx.Client, tenant: TenantKey) -> None:
    deep = '{"a": ' * 900 + "1" + "}" * 900
    response = _post_raw(
        client, tenant, f'{{"text": "x", "channel": "review", "metadata": {deep}}}'
    )
    assert _detail_types(response) == {"metadata_too_deep"}
    big = {"text": "x", "channel": "review", "metadata": {"notes": "x" * 70_000}}
    response = client.post("/v1/feedback", json=big, headers=tenant.headers)
    assert _detail_types(response) == {"metadata_too_large"}
    fine = {"text": "x", "channel": "review", "metadata": {"a": {"b": [1, 2.5, None, True]}}}
    assert client.post("/v1/feedback", json=fine, headers=tenant.headers).status_code == 202


def test_the_database_refuses_implausible_dates_from_any_path(
    db: Database, tenant: TenantKey
) -> None:
    # What the API refuses cannot be stored by another path either (CLI, SQL, old code).
    item = feedback_store.NewFeedback(
        source="crm", channel="review", text="x", occurred_at=datetime(9999, 12, 31, tzinfo=UTC)
    )
    with pytest.raises(psycopg.errors.CheckViolation), db.transaction() as conn:
        feedback_store.insert_feedback(conn, tenant.id, [item])


def _stored(db: Database, tenant: TenantKey, *items: feedback_store.NewFeedback) -> list[UUID]:
    """Insert items and give them their tenant's share of the queue, as the API does."""
    with db.transaction() as conn:
        ids = [i.id for i in feedback_store.insert_feedback(conn, tenant.id, list(items))]
        dispatch.claim_share(conn, tenant.id, ids, max_inflight=1_000)
        return ids


def test_a_stored_poison_value_fails_its_item_alone(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    # Stored before the API bounded numbers: 1e308 overflowed the complaints' real column
    # and failed the whole batch, leaving the innocent item stuck in processing.
    legacy, innocent = _stored(
        db,
        tenant,
        feedback_store.NewFeedback(
            source="crm", channel="review", text="complaint", metadata={"customer_value": 1e308}
        ),
        feedback_store.NewFeedback(source="crm", channel="review", text="complaint pos"),
    )
    # A severity the analyses table refuses (its CHECK): the write itself fails for one item.
    (refused,) = _stored(
        db, tenant, feedback_store.NewFeedback(source="crm", channel="review", text="sev=bogus")
    )
    written = analyze_batch(db, ScriptedAnalyzer(), [legacy, innocent, refused], max_attempts=5)
    assert written == 2
    items = {
        i: client.get(f"/v1/feedback/{i}", headers=tenant.headers).json()
        for i in (legacy, innocent, refused)
    }
    assert items[innocent]["status"] == "done"
    assert items[legacy]["status"] == "done"  # the unusable customer value is ignored
    assert items[refused]["status"] == "failed"
    assert "storing the analysis failed" in items[refused]["last_error"]
    complaints = client.get("/v1/complaints", headers=tenant.headers).json()["items"]
    assert {c["customer_value"] for c in complaints} == {None}


def test_the_sweep_never_mixes_tenants(db: Database, tenant: TenantKey) -> None:
    other = make_tenant(db)
    mine = _stored(db, tenant, feedback_store.NewFeedback(source="s", channel="review", text="a"))
    theirs = _stored(db, other, feedback_store.NewFeedback(source="s", channel="review", text="b"))
    with db.transaction() as conn:
        by_tenant = feedback_store.stale_unfinished(
            conn, pending_grace_s=0, processing_timeout_s=0, max_attempts=5, limit=100_000
        )
    assert set(mine) <= set(by_tenant[tenant.id]) and not set(theirs) & set(by_tenant[tenant.id])
    assert set(theirs) <= set(by_tenant[other.id])


@pytest.mark.parametrize(
    "occurred_at", [datetime(1970, 1, 1, tzinfo=UTC), datetime(2099, 12, 31, 23, tzinfo=UTC)]
)
def test_reports_survive_the_widest_stored_dates(
    client: httpx.Client, db: Database, tenant: TenantKey, occurred_at: datetime
) -> None:
    ids = _stored(
        db,
        tenant,
        feedback_store.NewFeedback(
            source="s", channel="review", text="neg", occurred_at=occurred_at
        ),
        feedback_store.NewFeedback(source="s", channel="review", text="pos"),
    )
    analyze_batch(db, ScriptedAnalyzer(), ids, max_attempts=5)
    for path in (
        "/v1/topics",
        "/v1/topics/trends",
        "/v1/topics/drivers",
        "/v1/reports/csat",
        "/v1/reports/csat?interval=week",
        "/v1/signals/csat",
        "/v1/feedback",
    ):
        response = client.get(path, headers=tenant.headers)
        assert response.status_code == 200, f"{path}: {response.text[:300]}"
    # Ten years of days at most, however far apart the stored dates are.
    series = client.get("/v1/reports/csat", headers=tenant.headers).json()["series"]
    assert 1 <= len(series) <= 3_662
