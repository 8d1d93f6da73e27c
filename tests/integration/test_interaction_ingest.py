"""The batched interaction ingest path (issue #14's fast path) on real HTTP and Postgres.

Batches are parsed by pydantic-core in one pass, with the stdlib decoder as the fallback
that names the fault, and stored by one statement that reads the batch as a JSON array,
inserts it, flags the profiles and writes the per-item outcome. These tests pin what that
path must keep: duplicates within and across batches and under concurrency, tenant
isolation, a bad item anywhere in a batch refusing the whole batch with the code the
single-item path gives, and the dirty flags that drive the profile refresh.
"""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from store import customers as customers_store
from store import interactions as interactions_store
from store import tenants as tenants_store
from store.db import Database
from tests.conftest import TenantKey
from workers.customers import refresh_dirty

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


def _order(ref: str, external_id: str | None, source: str = "shop", **extra: Any) -> dict[str, Any]:
    return {
        "customer_ref": ref,
        "type": "order",
        "occurred_at": (NOW - timedelta(days=2)).isoformat(),
        "value": 10,
        "external_id": external_id,
        "source": source,
        **extra,
    }


def _post(client: httpx.Client, tenant: TenantKey, items: list[dict[str, Any]]) -> Any:
    response = client.post("/v1/interactions", json={"items": items}, headers=tenant.headers)
    assert response.status_code == 202, response.text
    return response.json()


def _stored(db: Database, tenant: TenantKey) -> list[dict[str, Any]]:
    with db.transaction() as conn:
        return conn.execute(
            "SELECT id, source, external_id, customer_ref, value, attributes FROM interactions"
            " WHERE tenant_id = %s ORDER BY source, external_id, id",
            (tenant.id,),
        ).fetchall()


def _dirty(db: Database, tenant: TenantKey) -> list[str]:
    with db.transaction() as conn:
        return customers_store.reconcile(conn, tenant.id)["pending"]  # type: ignore[no-any-return]


def _other_tenant(db: Database) -> TenantKey:
    with db.transaction() as conn:
        other_id = tenants_store.create_tenant(conn, f"other-{secrets.token_hex(4)}").id
        return TenantKey(other_id, "other", tenants_store.create_api_key(conn, other_id))


def test_duplicates_within_and_across_batches_keep_the_first_id(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    first = _post(
        client,
        tenant,
        [
            _order("a", "x-1"),
            _order("a", "x-1", value=99),  # the same key later in the batch: a duplicate
            _order("b", "x-1", source="crm"),  # the same external_id from another source
            _order("b", None),  # no external_id: never a duplicate
            _order("b", None),
        ],
    )
    flags = [i["duplicate"] for i in first["items"]]
    assert flags == [False, True, False, False, False]
    assert (first["accepted"], first["duplicates"]) == (4, 1)
    ids = [i["id"] for i in first["items"]]
    assert ids[1] == ids[0] and len(set(ids)) == 4
    assert [i["external_id"] for i in first["items"]] == ["x-1", "x-1", "x-1", None, None]
    stored = _stored(db, tenant)
    assert len(stored) == 4
    # The first in input order is the one kept.
    assert [r["value"] for r in stored if r["external_id"] == "x-1" and r["source"] == "shop"] == [
        10
    ]

    second = _post(client, tenant, [_order("c", "x-2"), _order("a", "x-1"), _order("b", None)])
    assert [i["duplicate"] for i in second["items"]] == [False, True, False]
    assert second["items"][1]["id"] == ids[0]
    assert len(_stored(db, tenant)) == 6


def test_new_rows_flag_their_profiles_and_duplicates_flag_none(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    _post(client, tenant, [_order("a", "1"), _order("b", "2"), _order("a", "3")])
    assert _dirty(db, tenant) == ["a", "b"]
    # With its clock past, a refresh stops after one batch (the beat task's slice of time).
    assert refresh_dirty(db, limit=1, until=0.0) == 1
    refresh_dirty(db)
    assert _dirty(db, tenant) == []
    # Only duplicates: nothing changed, so no profile is flagged.
    again = _post(client, tenant, [_order("a", "1"), _order("b", "2")])
    assert again["accepted"] == 0
    assert _dirty(db, tenant) == []
    # A new row for a profile already flagged leaves it flagged; the refresh counts it.
    _post(client, tenant, [_order("b", "4")])
    _post(client, tenant, [_order("b", "5"), _order("c", "6")])
    assert _dirty(db, tenant) == ["b", "c"]
    refresh_dirty(db)
    with db.transaction() as conn:
        counts = {
            r["ref"]: r["interaction_count"]
            for r in conn.execute(
                "SELECT ref, interaction_count FROM customers WHERE tenant_id = %s",
                (tenant.id,),
            ).fetchall()
        }
        assert customers_store.reconcile(conn, tenant.id)["mismatches"] == []
    assert counts == {"a": 2, "b": 3, "c": 1}


def test_two_batches_in_one_transaction_are_stored_once_each(
    db: Database, tenant: TenantKey
) -> None:
    def rows(keys: list[str]) -> list[interactions_store.NewInteraction]:
        return [
            interactions_store.NewInteraction("shop", "t", "order", NOW, external_id=k)
            for k in keys
        ]

    with db.transaction() as conn:
        one = interactions_store.insert_interactions(conn, tenant.id, rows(["1", "2"]))
        two = interactions_store.insert_interactions(conn, tenant.id, rows(["2", "3"]))
    assert [i.duplicate for i in one] == [False, False]
    assert [i.duplicate for i in two] == [True, False]
    assert two[0].id == one[1].id
    assert sorted(r["external_id"] for r in _stored(db, tenant)) == ["1", "2", "3"]


def test_concurrent_overlapping_batches_store_each_key_once(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    # Eight batches over 30 keys, each key in several batches, posted at once.
    batches = [
        [_order(f"c{k % 7}", f"k-{k}") for k in range(start, start + 15)]
        for start in (0, 5, 10, 15, 0, 5, 10, 15)
    ]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda b: _post(client, tenant, b), batches))
    ids: dict[str, set[str]] = {}
    for answer in answers:
        for item in answer["items"]:
            ids.setdefault(item["external_id"], set()).add(item["id"])
    assert len(ids) == 30 and all(len(v) == 1 for v in ids.values())
    assert sum(a["accepted"] for a in answers) == 30
    stored = _stored(db, tenant)
    assert sorted(str(r["id"]) for r in stored) == sorted(next(iter(v)) for v in ids.values())
    assert _dirty(db, tenant) == [f"c{k}" for k in range(7)]


def test_the_same_key_in_another_tenant_is_not_a_duplicate(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    other = _other_tenant(db)
    mine = _post(client, tenant, [_order("a", "same")])
    theirs = _post(client, other, [_order("a", "same")])
    assert theirs["accepted"] == 1 and theirs["items"][0]["id"] != mine["items"][0]["id"]
    assert len(_stored(db, tenant)) == 1 and len(_stored(db, other)) == 1
    assert _dirty(db, other) == ["a"] and _dirty(db, tenant) == ["a"]


GOOD = (
    b'{"customer_ref": "g", "type": "order", "occurred_at": "2026-01-01T00:00:00Z",'
    b' "external_id": "good", "value": 5}'
)


@pytest.mark.parametrize(
    ("bad", "status", "code"),
    [
        # Numbers past any column, NaN: refused as on the single-item path.
        (
            b'{"customer_ref": "x", "type": "order", "occurred_at": "2026-01-01T00:00:00Z",'
            b' "value": 1e300}',
            422,
            "invalid_number",
        ),
        (
            b'{"customer_ref": "x", "type": "order", "occurred_at": "2026-01-01T00:00:00Z",'
            b' "value": -1e16}',
            422,
            "invalid_number",
        ),
        (
            b'{"customer_ref": "x", "type": "order", "occurred_at": "2026-01-01T00:00:00Z",'
            b' "value": NaN}',
            422,
            "invalid_number",
        ),
        (
            b'{"customer_ref": "x", "type": "order", "occurred_at": "2026-01-01T00:00:00Z",'
            b' "value": 1e999}',
            422,
            "invalid_number",
        ),
        (
            b'{"customer_ref": "x", "type": "app_session", "occurred_at": "2026-01-01T00:00:00Z",'
            b' "attributes": {"n": 123456789012345678901}}',
            422,
            "invalid_number",
        ),
        (
            b'{"customer_ref": "x", "type": "order", "occurred_at": "2026-01-01T00:00:00Z",'
            b' "attributes": {"note": 2e15}}',
            422,
            "invalid_number",
        ),
        (
            b'{"customer_ref": "x", "type": "order", "occurred_at": "2026-01-01T00:00:00Z",',
            400,
            "invalid_json",
        ),
        # A lone surrogate (Python's decoder takes it, Postgres could not store it).
        (
            b'{"customer_ref": "\\ud800", "type": "order", "occurred_at": "2026-01-01T00:00:00Z"}',
            422,
            "validation_error",
        ),
        (
            b'{"customer_ref": "x", "type": "order", "occurred_at": "2026-01-01T00:00:00Z",'
            b' "external_id": 7}',
            422,
            "validation_error",
        ),
        (
            b'{"customer_ref": "x", "type": "delivery", "occurred_at": "2026-01-01T00:00:00Z",'
            b' "attributes": {"promised_at": "soon"}}',
            422,
            "validation_error",
        ),
        (
            b'{"customer_ref": "x", "type": "order", "occurred_at": "2026-01-01T00:00:00Z",'
            b' "attributes": null}',
            422,
            "validation_error",
        ),
        (b'"just a string"', 422, "validation_error"),
    ],
)
def test_a_bad_item_anywhere_refuses_the_whole_batch(
    client: httpx.Client,
    db: Database,
    tenant: TenantKey,
    bad: bytes,
    status: int,
    code: str,
) -> None:
    for body in (b'{"items": [' + GOOD + b", " + bad + b"]}", b'{"items": [' + bad + b"]}"):
        response = client.post(
            "/v1/interactions",
            content=body,
            headers={**tenant.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code
    assert _stored(db, tenant) == [] and _dirty(db, tenant) == []


def test_a_good_batch_stores_every_field_as_posted(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    items = [
        _order("a", "o-1", value=12.5, attributes={"basket": ["x", "y"], "coupon": None}),
        {
            "customer_ref": "a",
            "type": "delivery",
            "occurred_at": "2026-01-02T03:04:05+07:00",
            "external_id": "d-1",
            "source": "shop",
            "attributes": {"promised_at": "2026-01-03T00:00:00Z", "carrier": "ghn"},
        },
        {
            "customer_ref": "a",
            "type": "support_contact",
            "occurred_at": "2026-01-02T00:00:00Z",
            "external_id": "s-1",
            "source": "desk",
            "attributes": {"wait_seconds": 30, "resolved": False},
        },
        {
            "customer_ref": "b",
            "type": "app_session",
            "occurred_at": "2026-01-02T00:00:00Z",
            "attributes": {"screens": 3, "note": None},
        },
    ]
    answer = _post(client, tenant, items)
    assert answer["accepted"] == 4
    with db.transaction() as conn:
        rows = {
            r["external_id"]: r
            for r in conn.execute(
                "SELECT external_id, source, customer_ref, type, occurred_at, value, attributes"
                " FROM interactions WHERE tenant_id = %s",
                (tenant.id,),
            ).fetchall()
        }
    assert rows["o-1"]["value"] == 12.5 and rows["o-1"]["attributes"] == {"basket": ["x", "y"]}
    assert rows["d-1"]["occurred_at"] == datetime(2026, 1, 1, 20, 4, 5, tzinfo=UTC)
    assert rows["d-1"]["attributes"] == {
        "promised_at": "2026-01-03T00:00:00Z",
        "carrier": "ghn",
    }
    assert rows["s-1"]["source"] == "desk"
    assert rows["s-1"]["attributes"] == {"wait_seconds": 30.0, "resolved": False}
    # Free-form attributes are kept as given, nulls included.
    assert rows[None]["attributes"] == {"screens": 3, "note": None}
    assert rows[None]["source"] == "api" and rows[None]["value"] is None
