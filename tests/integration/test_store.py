"""Queries and migrations on a real Postgres."""

from __future__ import annotations

from uuid import uuid4

import psycopg
import pytest

from store import events as events_store
from store import feedback as feedback_store
from store import tenants as tenants_store
from store import webhooks as webhooks_store
from store.db import Database
from store.migrate import apply_migrations, pending_migrations
from tests.conftest import TenantKey

pytestmark = pytest.mark.integration


def _item(
    external_id: str | None, source: str = "shop", text: str = "Hàng tốt"
) -> feedback_store.NewFeedback:
    return feedback_store.NewFeedback(
        source=source, channel="review", text=text, external_id=external_id
    )


def test_migrations_are_current_and_reapplying_is_a_no_op(database_url: str) -> None:
    assert pending_migrations(database_url) == []
    assert apply_migrations(database_url) == []


def test_api_key_resolves_to_its_tenant_and_only_its_hash_is_stored(
    db: Database, tenant: TenantKey
) -> None:
    with db.transaction() as conn:
        found = tenants_store.tenant_for_key(conn, tenant.key)
        assert tenants_store.tenant_for_key(conn, tenant.key + "x") is None
        stored = conn.execute(
            "SELECT key_hash FROM api_keys WHERE tenant_id = %s", (tenant.id,)
        ).fetchone()
    assert found is not None and found.id == tenant.id
    assert stored is not None and tenant.key.encode() not in bytes(stored["key_hash"])


def test_insert_is_idempotent_per_tenant_source_and_external_id(
    db: Database, tenant: TenantKey
) -> None:
    with db.transaction() as conn:
        first = feedback_store.insert_feedback(
            conn, tenant.id, [_item("a"), _item("b"), _item("a"), _item(None), _item(None)]
        )
    assert [i.duplicate for i in first] == [False, False, True, False, False]
    assert first[2].id == first[0].id
    assert first[3].id != first[4].id
    with db.transaction() as conn:
        again = feedback_store.insert_feedback(
            conn, tenant.id, [_item("b"), _item("a", source="crm")]
        )
        count = conn.execute(
            "SELECT count(*) AS n FROM feedback WHERE tenant_id = %s", (tenant.id,)
        ).fetchone()
    assert again[0].duplicate and again[0].id == first[1].id
    assert not again[1].duplicate
    assert count is not None and count["n"] == 5


def test_same_external_id_in_two_tenants_is_two_items(db: Database, tenant: TenantKey) -> None:
    with db.transaction() as conn:
        other = tenants_store.create_tenant(conn, tenant.name + "-other")
        mine = feedback_store.insert_feedback(conn, tenant.id, [_item("shared")])
        theirs = feedback_store.insert_feedback(conn, other.id, [_item("shared")])
        assert feedback_store.get_feedback(conn, other.id, mine[0].id) is None
    assert not theirs[0].duplicate and theirs[0].id != mine[0].id


def test_nul_text_is_refused_by_the_database_not_silently_stored(
    db: Database, tenant: TenantKey
) -> None:
    with pytest.raises(psycopg.DataError), db.transaction() as conn:
        feedback_store.insert_feedback(conn, tenant.id, [_item("nul", text="a\x00b")])


def test_events_get_gapless_sequence_and_fan_out_to_matching_subscriptions(
    db: Database, tenant: TenantKey
) -> None:
    with db.transaction() as conn:
        flagged = webhooks_store.create_subscription(
            conn, tenant.id, "http://127.0.0.1:9/x", ["complaint.flagged"], "s" * 16
        )
        everything = webhooks_store.create_subscription(
            conn, tenant.id, "http://127.0.0.1:9/y", ["*"], "s" * 16
        )
        events_store.append_events(
            conn,
            tenant.id,
            [
                events_store.NewEvent("feedback.analyzed", {"n": 1}),
                events_store.NewEvent("complaint.flagged", {"n": 2}),
            ],
        )
        third = events_store.append_events(
            conn, tenant.id, [events_store.NewEvent("feedback.analyzed", {"n": 3})]
        )
        page = events_store.list_events(conn, tenant.id, after=0, limit=10)
        # The ids come back in the order the events were given (their seq order).
        assert third == [page[2]["id"]]
        later = events_store.list_events(conn, tenant.id, after=page[0]["seq"], limit=10)
        counts = conn.execute(
            "SELECT subscription_id, count(*) AS n FROM deliveries WHERE tenant_id = %s "
            "GROUP BY subscription_id",
            (tenant.id,),
        ).fetchall()
    assert [e["seq"] for e in page] == [1, 2, 3]
    assert [e["data"]["n"] for e in later] == [2, 3]
    by_subscription = {r["subscription_id"]: r["n"] for r in counts}
    assert by_subscription == {flagged["id"]: 1, everything["id"]: 3}


def test_events_of_a_missing_tenant_are_refused_and_nothing_is_written(db: Database) -> None:
    missing = uuid4()
    with db.transaction() as conn:
        with pytest.raises(LookupError):
            events_store.append_events(conn, missing, [events_store.NewEvent("x", {})])
        assert conn.execute(
            "SELECT count(*) AS n FROM events WHERE tenant_id = %s", (missing,)
        ).fetchone() == {"n": 0}


def test_claim_skips_done_items_and_sweep_finds_stale_ones(db: Database, tenant: TenantKey) -> None:
    with db.transaction() as conn:
        ids = [
            i.id for i in feedback_store.insert_feedback(conn, tenant.id, [_item("x"), _item("y")])
        ]
    with db.transaction() as conn:
        claimed = feedback_store.claim_for_analysis(conn, ids)
        feedback_store.mark_done(conn, [ids[0]], ["vi"])
    assert {c.id for c in claimed} == set(ids)
    with db.transaction() as conn:
        assert [c.id for c in feedback_store.claim_for_analysis(conn, ids)] == [ids[1]]
    with db.transaction() as conn:
        stale = feedback_store.stale_unfinished(
            conn, pending_grace_s=0, processing_timeout_s=0, max_attempts=5, limit=100_000
        )
    assert ids[1] in stale[tenant.id] and ids[0] not in stale[tenant.id]


def test_items_out_of_attempts_are_failed_by_the_sweep(db: Database, tenant: TenantKey) -> None:
    with db.transaction() as conn:
        [inserted] = feedback_store.insert_feedback(conn, tenant.id, [_item("poison")])
    for _ in range(3):
        with db.transaction() as conn:
            feedback_store.claim_for_analysis(conn, [inserted.id])
    with db.transaction() as conn:
        stale = feedback_store.stale_unfinished(
            conn, pending_grace_s=0, processing_timeout_s=0, max_attempts=3, limit=100_000
        )
        row = feedback_store.get_feedback(conn, tenant.id, inserted.id)
    assert inserted.id not in stale.get(tenant.id, [])
    assert row is not None and row["status"] == "failed" and row["attempts"] == 3
