"""A tenant's own taxonomy over real HTTP and a real Postgres: CRUD, isolation, few-shot
categories at once, and re-categorising history only as an explicit job."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest

from store.db import Database
from tests.conftest import TenantKey
from tests.integration.wordvec import WordVectorAnalyzer, new_tenant
from workers.analysis import analyze_batch
from workers.taxonomy import recategorize_job

pytestmark = pytest.mark.integration


@pytest.fixture
def other_tenant(db: Database) -> TenantKey:
    """A second tenant."""
    return new_tenant(db)


CARD = {
    "name": "card_fees",
    "description": "Fees on cards",
    "examples": ["complaint card fee charged", "complaint annual card fee", "phí thẻ card fee"],
}
LOGIN = {
    "name": "ekyc_login",
    "description": "Cannot log in or verify identity",
    "examples": ["complaint login otp locked", "complaint cannot login otp", "otp login lỗi"],
}


def _analyse(
    client: httpx.Client, db: Database, tenant: TenantKey, texts: list[str]
) -> list[dict[str, Any]]:
    response = client.post(
        "/v1/feedback",
        json={"items": [{"text": t, "channel": "social"} for t in texts]},
        headers=tenant.headers,
    )
    assert response.status_code == 202, response.text
    ids = [i["id"] for i in response.json()["items"]]
    analyze_batch(db, WordVectorAnalyzer(), [UUID(i) for i in ids], max_attempts=5)
    return [client.get(f"/v1/feedback/{i}", headers=tenant.headers).json() for i in ids]


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["error"]["code"])


def test_crud_and_bad_input(client: httpx.Client, tenant: TenantKey) -> None:
    h = tenant.headers
    start = client.get("/v1/taxonomy", headers=h).json()
    assert start["mode"] is None and start["own"] == [] and len(start["categories"]) == 8
    created = client.post("/v1/taxonomy/categories", json=CARD, headers=h)
    assert created.status_code == 201, created.text
    assert [e["text"] for e in created.json()["examples"]] == CARD["examples"]
    assert not any(e["embedded"] for e in created.json()["examples"])
    overview = client.get("/v1/taxonomy", headers=h).json()
    assert overview["mode"] == "extend" and overview["categories"][-1] == "card_fees"
    assert _error(client.post("/v1/taxonomy/categories", json=CARD, headers=h), 409) == (
        "category_exists"
    )
    clash = {**CARD, "name": "delivery"}
    assert _error(client.post("/v1/taxonomy/categories", json=clash, headers=h), 409) == (
        "category_exists"
    )
    for bad in (
        {**CARD, "name": "Card Fees"},
        {**CARD, "name": "x"},
        {**CARD, "examples": []},
        {**CARD, "examples": ["   "]},
        {**CARD, "examples": ["nul\x00"]},
        {**CARD, "extra": 1},
        {"name": "only_name"},
    ):
        assert _error(client.post("/v1/taxonomy/categories", json=bad, headers=h), 422) == (
            "validation_error"
        )
    patched = client.patch(
        "/v1/taxonomy/categories/card_fees",
        json={"description": "Card fees", "add_examples": ["card fee again", CARD["examples"][0]]},
        headers=h,
    )
    assert patched.status_code == 200 and patched.json()["description"] == "Card fees"
    assert len(patched.json()["examples"]) == 4
    assert _error(client.patch("/v1/taxonomy/categories/nope", json={}, headers=h), 404) == (
        "not_found"
    )
    assert _error(client.put("/v1/taxonomy", json={"mode": "other"}, headers=h), 422) == (
        "validation_error"
    )
    replaced = client.put("/v1/taxonomy", json={"mode": "replace"}, headers=h).json()
    assert replaced["categories"] == ["card_fees"] and replaced["version"] > overview["version"]
    assert client.delete("/v1/taxonomy/categories/card_fees", headers=h).status_code == 204
    assert _error(client.get("/v1/taxonomy/categories/card_fees", headers=h), 404) == "not_found"
    # Replace with nothing of its own: the default eight stay in force.
    assert len(client.get("/v1/taxonomy", headers=h).json()["categories"]) == 8


def test_taxonomies_are_per_tenant(
    client: httpx.Client, db: Database, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    assert client.post("/v1/taxonomy/categories", json=CARD, headers=tenant.headers).is_success
    assert client.get("/v1/taxonomy/categories", headers=other_tenant.headers).json() == {
        "items": []
    }
    for method in ("GET", "DELETE"):
        response = client.request(
            method, "/v1/taxonomy/categories/card_fees", headers=other_tenant.headers
        )
        assert _error(response, 404) == "not_found"
    # The same text: the tenant's own category for one, the default head's for the other.
    mine = _analyse(client, db, tenant, ["complaint card fee charged twice"])[0]
    theirs = _analyse(client, db, other_tenant, ["complaint card fee charged twice"])[0]
    assert mine["analysis"]["complaint_category"] == "card_fees"
    assert mine["analysis"]["model_versions"]["taxonomy"].startswith("tenant-v")
    assert theirs["analysis"]["complaint_category"] == "delivery"
    assert "taxonomy" not in theirs["analysis"]["model_versions"]


def test_new_items_use_it_at_once_history_only_by_a_job(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    h = tenant.headers
    before = _analyse(
        client, db, tenant, ["complaint login otp locked again", "complaint card fee charged"]
    )
    assert [b["analysis"]["complaint_category"] for b in before] == ["delivery", "delivery"]
    assert _error(client.post("/v1/taxonomy/recategorize", headers=h), 409) == "no_taxonomy"
    for body in (CARD, LOGIN):
        assert client.post("/v1/taxonomy/categories", json=body, headers=h).status_code == 201
    after = _analyse(client, db, tenant, ["complaint otp login locked", "pos stars=5 lovely"])
    assert after[0]["analysis"]["complaint_category"] == "ekyc_login"
    assert after[1]["analysis"]["complaint_category"] is None  # not a complaint
    embedded = client.get("/v1/taxonomy/categories/card_fees", headers=h).json()["examples"]
    assert all(e["embedded"] for e in embedded)
    # Nothing stored before the change was rewritten.
    again = [client.get(f"/v1/feedback/{b['id']}", headers=h).json() for b in before]
    assert [a["analysis"]["complaint_category"] for a in again] == ["delivery", "delivery"]

    queued = client.post("/v1/taxonomy/recategorize", headers=h)
    assert queued.status_code == 202, queued.text
    job = queued.json()
    assert job["status"] == "queued" and job["requested_by"].startswith("key:lng_")
    assert _error(client.post("/v1/taxonomy/recategorize", headers=h), 409) == (
        "recategorize_running"
    )
    done = recategorize_job(db, WordVectorAnalyzer(), UUID(job["id"]))
    assert done is not None and done["status"] == "done"
    polled = client.get(f"/v1/taxonomy/jobs/{job['id']}", headers=h).json()
    assert polled["status"] == "done" and polled["progress"] == 1.0
    assert polled["total"] == 3 and polled["processed"] == 3 and polled["changed"] == 2
    rewritten = [client.get(f"/v1/feedback/{b['id']}", headers=h).json() for b in before]
    assert [r["analysis"]["complaint_category"] for r in rewritten] == ["ekyc_login", "card_fees"]
    complaints = client.get("/v1/complaints", headers=h).json()["items"]
    assert {c["category"] for c in complaints} == {"ekyc_login", "card_fees"}
    assert _error(client.get(f"/v1/taxonomy/jobs/{UUID(int=1)}", headers=h), 404) == "not_found"


def test_the_complaint_filter_takes_the_tenants_categories(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    client.post("/v1/taxonomy/categories", json=CARD, headers=tenant.headers)
    _analyse(client, db, tenant, ["complaint card fee charged", "angry cat=delivery parcel late"])
    page = client.get(
        "/v1/complaints", params={"category": "card_fees"}, headers=tenant.headers
    ).json()
    assert [c["category"] for c in page["items"]] == ["card_fees"]
    refused = client.get("/v1/complaints", params={"category": "loans"}, headers=tenant.headers)
    assert _error(refused, 422) == "unknown_category"
    assert "card_fees" in refused.json()["error"]["details"]["known"]
