"""Customer profiles and interactions over real HTTP and a real Postgres."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from typer.testing import CliRunner

from langnghe.cli import app
from store import customers as customers_store
from store import interactions as interactions_store
from store import tenants as tenants_store
from store.db import Database
from tests.conftest import TenantKey
from tests.integration.scripted import ScriptedAnalyzer
from workers.analysis import analyze_batch
from workers.customer_model import ChurnModel
from workers.customers import RescoreCursor, refresh_dirty, rescore_all, rescore_slice

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


def _ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat()


def _feedback(
    client: httpx.Client, db: Database, tenant: TenantKey, items: list[dict[str, Any]]
) -> list[str]:
    response = client.post("/v1/feedback", json={"items": items}, headers=tenant.headers)
    assert response.status_code == 202, response.text
    ids = [i["id"] for i in response.json()["items"]]
    analyze_batch(db, ScriptedAnalyzer(), [UUID(i) for i in ids], max_attempts=5)
    return ids


def _interactions(
    client: httpx.Client, db: Database, tenant: TenantKey, items: list[dict[str, Any]]
) -> list[str]:
    response = client.post("/v1/interactions", json={"items": items}, headers=tenant.headers)
    assert response.status_code == 202, response.text
    refresh_dirty(db)
    return [i["id"] for i in response.json()["items"]]


def _orders(ref: str, days: list[float], prefix: str = "o") -> list[dict[str, Any]]:
    return [
        {
            "customer_ref": ref,
            "type": "order",
            "occurred_at": _ago(d),
            "value": 100,
            "external_id": f"{prefix}-{ref}-{d}",
            "source": "shop",
        }
        for d in days
    ]


def _events(client: httpx.Client, tenant: TenantKey, type_: str) -> list[dict[str, Any]]:
    page = client.get(
        "/v1/events", params={"type": type_, "limit": 1000}, headers=tenant.headers
    ).json()
    return list(page["events"])


def _reconciled(db: Database, tenant: TenantKey) -> dict[str, Any]:
    with db.transaction() as conn:
        return customers_store.reconcile(conn, tenant.id)


def test_feedback_builds_a_profile_in_the_analysis_transaction(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    ids = _feedback(
        client,
        db,
        tenant,
        [
            {
                "text": "pos stars=5",
                "channel": "review",
                "customer_ref": "c1",
                "rating": 5,
                "occurred_at": _ago(20),
            },
            {
                "text": "neg stars=2",
                "channel": "email",
                "customer_ref": "c1",
                "occurred_at": _ago(10),
            },
            {
                "text": "pos stars=4",
                "channel": "social",
                "customer_ref": "c2",
                "survey_score": 10,
                "occurred_at": _ago(5),
            },
            {"text": "no customer", "channel": "review"},
        ],
    )
    c1 = client.get("/v1/customers/c1", headers=tenant.headers).json()
    assert c1["feedback_count"] == 2 and c1["negative_count"] == 1
    assert c1["channels"] == ["email", "review"]
    assert c1["csat_inferred"] == pytest.approx(3.5)
    low, high = c1["csat_inferred_interval"]
    assert low < 3.5 < high
    assert c1["csat_real"] == 5 and c1["nps_real"] is None
    assert [e["id"] for e in c1["timeline"]] == [ids[1], ids[0]]
    assert c1["timeline"][0]["summary"]["sentiment"] == "negative"
    assert c1["segment"] == "promoter" and c1["segment_source"] == "survey"
    c2 = client.get("/v1/customers/c2", headers=tenant.headers).json()
    assert c2["nps_real"] == 10 and c2["segment"] == "promoter"
    changed = _events(client, tenant, "customer.segment_changed")
    assert {e["data"]["customer_ref"] for e in changed} == {"c1", "c2"}
    assert c1["segment_history"][-1]["segment"] == "promoter"
    page = client.get("/v1/customers", headers=tenant.headers).json()
    assert page["count"] == 2
    assert _reconciled(db, tenant) == {"checked": 2, "pending": [], "mismatches": []}
    # Re-running the analysis changes nothing and emits no second segment change.
    analyze_batch(db, ScriptedAnalyzer(), [UUID(i) for i in ids], max_attempts=5)
    assert len(_events(client, tenant, "customer.segment_changed")) == 2


def test_interactions_are_idempotent_and_refresh_profiles(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    items = [
        *_orders("buyer", [40, 30, 20, 10]),
        {
            "customer_ref": "buyer",
            "type": "survey_answered",
            "occurred_at": _ago(9),
            "attributes": {"nps": 8, "survey": "nps-q4"},
            "external_id": "s-1",
            "source": "shop",
        },
    ]
    response = client.post("/v1/interactions", json={"items": items}, headers=tenant.headers)
    assert response.status_code == 202
    assert response.json()["accepted"] == 5 and response.json()["duplicates"] == 0
    # Committed, but the profile's refresh is queued: reconciliation says so.
    assert _reconciled(db, tenant)["pending"] == ["buyer"]
    refresh_dirty(db)
    assert _reconciled(db, tenant) == {"checked": 1, "pending": [], "mismatches": []}
    again = client.post("/v1/interactions", json={"items": items}, headers=tenant.headers).json()
    assert again["accepted"] == 0 and again["duplicates"] == 5
    assert [i["id"] for i in again["items"]] == [i["id"] for i in response.json()["items"]]
    one = client.post("/v1/interactions", json=items[0], headers=tenant.headers).json()
    assert one["duplicates"] == 1
    profile = client.get("/v1/customers/buyer", headers=tenant.headers).json()
    assert profile["order_count"] == 4 and profile["revenue"] == 400
    assert profile["nps_real"] == 8 and profile["segment"] == "passive"
    assert profile["interaction_count"] == 5 and profile["feedback_count"] == 0
    assert profile["timeline"][0]["type"] == "survey_answered"
    assert profile["timeline"][0]["summary"]["survey"] == "nps-q4"
    assert _reconciled(db, tenant)["mismatches"] == []


@pytest.mark.parametrize(
    ("body", "status", "code", "loc"),
    [
        (b"{", 400, "invalid_json", None),
        (b"\xff\xfe", 400, "invalid_encoding", None),
        # The feedback endpoint's number rules (api.bodies): NaN and numbers past any column.
        (
            b'{"customer_ref": "x", "type": "order", "occurred_at": "2026-01-01T00:00:00Z",'
            b' "value": NaN}',
            422,
            "invalid_number",
            None,
        ),
        (
            b'{"customer_ref": "x", "type": "app_session", "occurred_at": "2026-01-01T00:00:00Z",'
            b' "attributes": {"screens": 1e999}}',
            422,
            "invalid_number",
            None,
        ),
        (
            {"customer_ref": "x", "type": "refund", "occurred_at": _ago(1)},
            422,
            "validation_error",
            None,
        ),
        (
            {"customer_ref": "x", "type": "delivery", "occurred_at": _ago(1), "attributes": {}},
            422,
            "validation_error",
            ["delivery", "attributes", "promised_at"],
        ),
        (
            {
                "customer_ref": "x",
                "type": "survey_answered",
                "occurred_at": _ago(1),
                "attributes": {"nps": 11},
            },
            422,
            "validation_error",
            None,
        ),
        (
            {
                "customer_ref": "x",
                "type": "survey_answered",
                "occurred_at": _ago(1),
                "attributes": {},
            },
            422,
            "validation_error",
            None,
        ),
        (
            {"customer_ref": "x", "type": "order", "occurred_at": "2026-01-01T10:00:00"},
            422,
            "validation_error",
            ["order", "occurred_at"],
        ),
        (
            {"customer_ref": "", "type": "order", "occurred_at": _ago(1)},
            422,
            "validation_error",
            None,
        ),
        (
            {"customer_ref": "x\u0000", "type": "order", "occurred_at": _ago(1)},
            422,
            "validation_error",
            None,
        ),
        (
            {
                "customer_ref": "x",
                "type": "support_contact",
                "occurred_at": _ago(1),
                "attributes": {"wait_seconds": -1},
            },
            422,
            "validation_error",
            None,
        ),
        (
            {"customer_ref": "x", "type": "order", "occurred_at": _ago(1), "colour": "red"},
            422,
            "validation_error",
            None,
        ),
        ({"items": []}, 422, "validation_error", None),
        ({"items": _orders("x", list(range(21)))}, 413, "batch_too_large", None),
    ],
)
def test_bad_interactions_are_refused_with_a_code(
    client: httpx.Client,
    db: Database,
    tenant: TenantKey,
    body: Any,
    status: int,
    code: str,
    loc: list[str] | None,
) -> None:
    if isinstance(body, bytes):
        response = client.post(
            "/v1/interactions",
            content=body,
            headers={**tenant.headers, "Content-Type": "application/json"},
        )
    else:
        response = client.post("/v1/interactions", json=body, headers=tenant.headers)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    if loc is not None:
        assert any(d["loc"][-len(loc) :] == loc for d in error["details"]), error["details"]
    assert client.get("/v1/customers", headers=tenant.headers).json()["count"] == 0


def test_a_late_delivery_then_silence_makes_a_silent_detractor(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    ids = _interactions(
        client,
        db,
        tenant,
        [
            *_orders("quiet", [130, 110, 90, 70, 50]),
            {
                "customer_ref": "quiet",
                "type": "delivery",
                "occurred_at": _ago(49),
                "external_id": "d-1",
                "source": "shop",
                "attributes": {"promised_at": _ago(48), "delivered_at": _ago(44)},
            },
            *_orders("loyal", [35, 25, 15, 5]),
        ],
    )
    delivery_id = ids[5]
    quiet = client.get("/v1/customers/quiet", headers=tenant.headers).json()
    assert quiet["risk_band"] == "high" and quiet["silent"]
    codes = [r["code"] for r in quiet["reasons"]]
    assert codes[0] == "silence_after_bad_experience"
    assert quiet["reasons"][0]["interaction_ids"] == [delivery_id]
    assert "4.0 days late" in quiet["reasons"][0]["message"]
    assert quiet["segment"] == "detractor" and quiet["segment_source"] == "behaviour"
    loyal = client.get("/v1/customers/loyal", headers=tenant.headers).json()
    assert loyal["risk_band"] == "low" and loyal["reasons"] == []
    silent = client.get("/v1/customers/silent-detractors", headers=tenant.headers).json()
    assert [c["ref"] for c in silent["items"]] == ["quiet"] and silent["count"] == 1
    (at_risk,) = _events(client, tenant, "customer.at_risk")
    assert at_risk["data"]["customer_ref"] == "quiet" and at_risk["data"]["silent"]
    # The beat's rescoring keeps the state and does not announce it again.
    rescore_all(db)
    assert len(_events(client, tenant, "customer.at_risk")) == 1
    # Silence grows with time alone: a month later the loyal customer is drifting too.
    rescore_all(db, now=NOW + timedelta(days=40))
    loyal = client.get("/v1/customers/loyal", headers=tenant.headers).json()
    assert loyal["risk_band"] != "low"
    assert loyal["reasons"][0]["code"] == "frequency_drop"
    # The beat's task rescores in slices of time, each going on from the last one's cursor:
    # with a clock always past, every slice does one page, and together they do each once.
    with db.transaction() as conn:
        row = conn.execute("SELECT count(*) AS n FROM customers").fetchone()
    cursor: RescoreCursor | None = None
    slices = []
    while True:
        done, cursor = rescore_slice(db, cursor, page=1, now=NOW + timedelta(days=80), until=0.0)
        slices.append(done)
        if cursor is None:
            break
    assert row is not None and sum(slices) == row["n"] and set(slices) <= {0, 1}
    assert len(slices) <= row["n"] + len(slices) - sum(slices)  # no page done twice


def test_written_signals_raise_the_risk(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    ids = _feedback(
        client,
        db,
        tenant,
        [
            {
                "text": "pos stars=5",
                "channel": "review",
                "customer_ref": "w",
                "occurred_at": _ago(30),
            },
            {
                "text": "angry churn sev=critical",
                "channel": "social",
                "customer_ref": "w",
                "occurred_at": _ago(2),
            },
        ],
    )
    profile = client.get("/v1/customers/w", headers=tenant.headers).json()
    codes = {r["code"]: r for r in profile["reasons"]}
    assert {"churn_cue", "unresolved_complaint", "severe_feedback"} <= set(codes)
    assert codes["churn_cue"]["feedback_ids"] == [ids[1]]
    assert profile["risk_band"] == "high" and not profile["silent"]
    assert profile["complaint_count"] == 1
    assert [c["kind"] for c in profile["cases"]] == ["complaint"]
    silent = client.get("/v1/customers/silent-detractors", headers=tenant.headers).json()
    assert silent["items"] == []


def test_list_filters_sort_and_cursor_paging(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    _feedback(
        client,
        db,
        tenant,
        [
            {
                "text": f"{'angry churn' if n % 3 == 0 else 'pos stars=5'} n{n}",
                "channel": "social" if n % 2 else "email",
                "customer_ref": f"p{n}",
                "occurred_at": _ago(n),
            }
            for n in range(7)
        ],
    )
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/customers", params=params, headers=tenant.headers).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 7 and len({c["ref"] for c in seen}) == 7
    risks = [c["risk_score"] for c in seen]
    assert risks == sorted(risks, reverse=True)
    assert {c["ref"] for c in seen[:3]} == {"p0", "p3", "p6"}
    high = client.get("/v1/customers", params={"risk_band": "high"}, headers=tenant.headers)
    assert {c["ref"] for c in high.json()["items"]} == {"p0", "p3", "p6"}
    social = client.get("/v1/customers", params={"channel": "social"}, headers=tenant.headers)
    assert {c["ref"] for c in social.json()["items"]} == {"p1", "p3", "p5"}
    promoters = client.get(
        "/v1/customers", params={"segment": "promoter"}, headers=tenant.headers
    ).json()
    assert promoters["count"] == 4
    recent = client.get(
        "/v1/customers", params={"last_contact_after": _ago(2.5)}, headers=tenant.headers
    ).json()
    assert {c["ref"] for c in recent["items"]} == {"p0", "p1", "p2"}
    bad = client.get("/v1/customers", params={"cursor": "nope"}, headers=tenant.headers)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_cursor"
    bad = client.get("/v1/customers", params={"risk_band": "extreme"}, headers=tenant.headers)
    assert bad.status_code == 422


def test_every_customer_endpoint_is_isolated_by_tenant(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    with db.transaction() as conn:
        other_id = tenants_store.create_tenant(conn, f"other-{secrets.token_hex(4)}").id
        other = TenantKey(other_id, "other", tenants_store.create_api_key(conn, other_id))
    _feedback(
        client,
        db,
        tenant,
        [{"text": "angry churn", "channel": "social", "customer_ref": "shared-ref"}],
    )
    _interactions(client, db, tenant, _orders("shared-ref", [3, 2]))
    # The same source + external_id in another tenant is a new row, not a duplicate.
    response = client.post(
        "/v1/interactions", json={"items": _orders("theirs", [3, 2])}, headers=other.headers
    )
    assert response.json()["accepted"] == 2
    assert client.get("/v1/customers/shared-ref", headers=other.headers).status_code == 404
    assert client.get("/v1/customers/theirs", headers=tenant.headers).status_code == 404
    assert client.get("/v1/customers", headers=other.headers).json()["count"] == 0
    refresh_dirty(db)
    assert [
        c["ref"] for c in client.get("/v1/customers", headers=other.headers).json()["items"]
    ] == ["theirs"]
    assert client.get("/v1/customers/silent-detractors", headers=other.headers).json()["count"] == 0
    assert client.get("/v1/customers/reconciliation", headers=other.headers).json()["checked"] == 1
    mine = client.get("/v1/customers/shared-ref", headers=tenant.headers).json()
    assert mine["order_count"] == 2 and mine["feedback_count"] == 1
    for path in (
        "/v1/customers",
        "/v1/customers/shared-ref",
        "/v1/customers/silent-detractors",
        "/v1/customers/reconciliation",
    ):
        assert client.get(path).status_code == 401
    assert client.post("/v1/interactions", json=_orders("z", [1])[0]).status_code == 401


def test_reconciliation_finds_a_profile_that_drifted(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    _feedback(
        client,
        db,
        tenant,
        [
            {"text": "pos", "channel": "review", "customer_ref": "d1"},
            {"text": "pos", "channel": "review", "customer_ref": "d2"},
        ],
    )
    _interactions(client, db, tenant, _orders("d3", [4, 3]))
    assert _reconciled(db, tenant)["mismatches"] == []
    with db.transaction() as conn:
        conn.execute(
            "UPDATE customers SET feedback_count = 7 WHERE tenant_id = %s AND ref = 'd1'",
            (tenant.id,),
        )
        conn.execute("DELETE FROM customers WHERE tenant_id = %s AND ref = 'd2'", (tenant.id,))
    report = client.get("/v1/customers/reconciliation", headers=tenant.headers).json()
    assert report["mismatches"] == [
        {"ref": "d1", "missing": False, "orphan": False, "columns": ["feedback_count"]},
        {"ref": "d2", "missing": True, "orphan": False, "columns": []},
    ]


def test_langnghe_ingest_takes_interaction_files(
    client: httpx.Client, db: Database, tenant: TenantKey, database_url: str, tmp_path: Path
) -> None:
    csv_file = tmp_path / "interactions.csv"
    csv_file.write_text(
        "customer_ref,type,occurred_at,value,external_id,wait_seconds,resolved\n"
        f"f1,order,{_ago(9)},250,o-1,,\n"
        f"f1,support_contact,{_ago(8)},,c-1,1200,false\n"
        f"f1,order,not-a-date,10,o-2,,\n",
        encoding="utf-8",
    )
    jsonl = tmp_path / "interactions.jsonl"
    jsonl.write_text(
        json.dumps({"customer_ref": "f2", "type": "app_session", "occurred_at": _ago(1)})
        + "\n{broken\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    args = ["--kind", "interactions", "--tenant", tenant.name, "--database-url", database_url]
    result = runner.invoke(app, ["ingest", str(csv_file), *args])
    assert result.exit_code == 0, result.output
    assert "accepted 2, duplicates 0, rejected 1" in result.output
    assert "occurred_at" in result.output
    result = runner.invoke(app, ["ingest", str(jsonl), *args])
    assert "accepted 1, duplicates 0, rejected 1" in result.output
    result = runner.invoke(app, ["ingest", str(csv_file), *args])
    assert "accepted 0, duplicates 2, rejected 1" in result.output
    refresh_dirty(db)
    f1 = client.get("/v1/customers/f1", headers=tenant.headers).json()
    assert f1["order_count"] == 1 and f1["revenue"] == 250
    contact = next(e for e in f1["timeline"] if e["type"] == "support_contact")
    assert contact["summary"] == {"value": None, "wait_seconds": 1200.0, "resolved": False}


def test_train_churn_fits_on_cancellations_and_keeps_the_better_score(
    client: httpx.Client, db: Database, tenant: TenantKey, database_url: str
) -> None:
    rows: list[interactions_store.NewInteraction] = []
    for n in range(60):
        ref = f"t{n:02d}"
        churner = n % 3 == 0
        last = 60 if churner else 2
        for day in range(150, last - 1, -10):
            rows.append(
                interactions_store.NewInteraction(
                    "shop", ref, "order", NOW - timedelta(days=day), f"o-{ref}-{day}", 50.0
                )
            )
        if churner:
            rows.append(
                interactions_store.NewInteraction(
                    "shop",
                    ref,
                    "support_contact",
                    NOW - timedelta(days=58),
                    f"c-{ref}",
                    attributes={"resolved": False},
                )
            )
            rows.append(
                interactions_store.NewInteraction(
                    "shop", ref, "cancellation", NOW - timedelta(days=10), f"x-{ref}"
                )
            )
    with db.transaction() as conn:
        interactions_store.insert_interactions(conn, tenant.id, rows)
    refresh_dirty(db)
    result = CliRunner().invoke(
        app, ["train", "--churn", "--tenant", tenant.name, "--database-url", database_url]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[: result.output.rindex("}") + 1])
    assert report["customers"] == 60 and report["churned"] == 20
    assert report["train"] + report["held_out"] == 60
    assert report["transparent"]["auc"] == 1.0
    assert report["model"]["auc"] is not None and 0 <= report["model"]["ece"] <= 1
    assert report["use_model"] is False
    assert "the transparent score stays" in result.output
    with db.transaction() as conn:
        assert customers_store.active_churn_model(conn, tenant.id) is None
        stored = conn.execute(
            "SELECT model, active FROM churn_models WHERE tenant_id = %s", (tenant.id,)
        ).fetchone()
        assert stored is not None and not stored["active"]
        # A model in use scores every customer; the reasons stay the transparent score's.
        conn.execute("UPDATE churn_models SET active = true WHERE tenant_id = %s", (tenant.id,))
    rescore_all(db)
    model = ChurnModel.from_json(stored["model"])
    assert model is not None
    profile = client.get("/v1/customers/t01", headers=tenant.headers).json()
    assert profile["risk_score"] < 0.5 and profile["cancelled_at"] is None
    churned = client.get("/v1/customers/t00", headers=tenant.headers).json()
    assert churned["risk_score"] == 1.0 and churned["reasons"][0]["code"] == "cancelled"


def test_a_silent_detractor_opens_a_recovery_case_when_the_policy_says_so(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    defaults = client.get("/v1/customers/settings", headers=tenant.headers).json()
    assert defaults["recovery_cases"] == "off" and defaults["recovery_priority"] == "p2"
    contact = {
        "customer_ref": "r1",
        "type": "support_contact",
        "occurred_at": _ago(40),
        "external_id": "c-r1",
        "source": "shop",
        "attributes": {"wait_seconds": 2400, "resolved": False},
    }
    _interactions(client, db, tenant, [*_orders("r1", [100, 85, 70, 55, 41]), contact])
    assert client.get("/v1/complaints", headers=tenant.headers).json()["items"] == []
    bad = client.put(
        "/v1/customers/settings", json={"recovery_cases": "always"}, headers=tenant.headers
    )
    assert bad.status_code == 422
    put = client.put(
        "/v1/customers/settings",
        json={"recovery_cases": "silent_detractors", "recovery_priority": "p1"},
        headers=tenant.headers,
    )
    assert put.status_code == 200
    with db.transaction() as conn:
        other_id = tenants_store.create_tenant(conn, f"other-{secrets.token_hex(4)}").id
        other = {"Authorization": f"Bearer {tenants_store.create_api_key(conn, other_id)}"}
    assert client.get("/v1/customers/settings", headers=other).json()["recovery_cases"] == "off"
    _interactions(
        client,
        db,
        tenant,
        [
            *_orders("r2", [100, 85, 70, 55, 41]),
            {**contact, "customer_ref": "r2", "external_id": "c-r2"},
        ],
    )
    rescore_all(db)  # r1 is rescored under the new policy too
    (case_r1, case_r2) = client.get("/v1/complaints", headers=tenant.headers).json()["items"]
    cases = {c["id"]: c for c in (case_r1, case_r2)}
    assert all(c["kind"] == "recovery" and c["feedback_id"] is None for c in cases.values())
    assert all(c["priority"] == "p1" for c in cases.values())
    detail = client.get(f"/v1/complaints/{case_r1['id']}", headers=tenant.headers).json()
    assert detail["customer_ref"] in ("r1", "r2")
    assert "silence_after_bad_experience" in detail["reasons"]
    assert detail["suggested_action"].startswith("Call to apologise")
    assert detail["text"] == detail["suggested_action"]
    flagged = _events(client, tenant, "complaint.flagged")
    assert {e["data"]["customer_ref"] for e in flagged} == {"r1", "r2"}
    # One open case per customer: rescoring does not open another.
    rescore_all(db)
    assert len(client.get("/v1/complaints", headers=tenant.headers).json()["items"]) == 2
    resolved = client.post(
        f"/v1/complaints/{case_r1['id']}/resolve",
        json={"resolution_code": "voucher_sent"},
        headers=tenant.headers,
    )
    assert resolved.status_code == 200 and resolved.json()["kind"] == "recovery"
    profile = client.get(f"/v1/customers/{detail['customer_ref']}", headers=tenant.headers).json()
    assert [c["kind"] for c in profile["cases"]] == ["recovery"]
    assert profile["silent"] and profile["complaint_count"] == 0


def test_loop_lists_and_their_csv_export(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    answers = [
        {
            "customer_ref": ref,
            "type": "survey_answered",
            "occurred_at": _ago(3),
            "external_id": f"s-{ref}",
            "source": "survey",
            "attributes": {"nps": nps},
        }
        for ref, nps in (("fan", 10), ("meh", 8), ("grumpy", 3), ("fan2", 9))
    ]
    _interactions(client, db, tenant, answers)
    lists = {
        name: client.get(f"/v1/customers/lists/{name}", headers=tenant.headers).json()
        for name in ("detractors", "passives", "promoters")
    }
    assert [c["ref"] for c in lists["detractors"]["items"]] == ["grumpy"]
    assert lists["detractors"]["items"][0]["reasons"][0]["code"] == "detractor_answer"
    assert [c["ref"] for c in lists["passives"]["items"]] == ["meh"]
    assert lists["passives"]["items"][0]["topics"] == []
    assert sorted(c["ref"] for c in lists["promoters"]["items"]) == ["fan", "fan2"]
    assert lists["promoters"]["count"] == 2
    exported = client.get(
        "/v1/customers/lists/promoters",
        params={"format": "csv", "limit": 1},
        headers=tenant.headers,
    )
    assert exported.headers["content-type"].startswith("text/csv")
    lines = exported.text.strip().splitlines()
    assert lines[0].startswith("ref,segment,segment_source,risk_score")
    assert len(lines) == 2 and lines[1].split(",")[1] == "promoter"
    assert exported.headers["x-next-cursor"]
    bad = client.get("/v1/customers/lists/fans", headers=tenant.headers)
    assert bad.status_code == 422
    with db.transaction() as conn:
        other_id = tenants_store.create_tenant(conn, f"other-{secrets.token_hex(4)}").id
        other_key = tenants_store.create_api_key(conn, other_id)
    other = client.get(
        "/v1/customers/lists/promoters", headers={"Authorization": f"Bearer {other_key}"}
    ).json()
    assert other["items"] == [] and other["count"] == 0
    assert client.get("/v1/customers/settings").status_code == 401
