"""survey.suggested after interactions: policy, sampling, frequency cap, on a real Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from store.db import Database
from tests.conftest import TenantKey
from tests.integration.test_customers import _events, _feedback

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


def _ago(hours: float) -> str:
    return (NOW - timedelta(hours=hours)).isoformat()


def _delivery(ref: str, n: int, hours: float = 2, late_days: float = 0) -> dict[str, Any]:
    promised = NOW - timedelta(hours=hours) - timedelta(days=late_days)
    return {
        "customer_ref": ref,
        "type": "delivery",
        "occurred_at": _ago(hours),
        "external_id": f"d-{ref}-{n}",
        "source": "shop",
        "attributes": {"promised_at": promised.isoformat(), "delivered_at": _ago(hours)},
    }


def _post(client: httpx.Client, tenant: TenantKey, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 20):  # the test server's batch limit
        response = client.post(
            "/v1/interactions", json={"items": items[start : start + 20]}, headers=tenant.headers
        )
        assert response.status_code == 202, response.text


def _policy(client: httpx.Client, tenant: TenantKey, **surveys: Any) -> None:
    response = client.put(
        "/v1/customers/settings",
        json={"surveys": {"enabled": True, **surveys}},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text


def _suggested(client: httpx.Client, tenant: TenantKey) -> list[dict[str, Any]]:
    return [e["data"] for e in _events(client, tenant, "survey.suggested")]


def test_no_survey_is_suggested_until_the_tenant_enables_it(
    client: httpx.Client, tenant: TenantKey
) -> None:
    _post(client, tenant, [_delivery("a", 1)])
    assert _suggested(client, tenant) == []


def test_a_fresh_interaction_without_feedback_suggests_a_survey_on_the_preferred_channel(
    client: httpx.Client, tenant: TenantKey
) -> None:
    _policy(client, tenant, sampling_rate=1.0, channels=["zalo", "sms"], cap_days=30)
    _post(client, tenant, [_delivery("a", 1)])
    (event,) = _suggested(client, tenant)
    assert event["customer_ref"] == "a"
    assert event["survey"] == "csat_delivery"
    assert event["channel"] == "zalo" and event["fallback_channels"] == ["sms"]
    assert event["interaction_type"] == "delivery" and event["bad_experience"] is False
    assert "no feedback in the 30 days before" in event["reason"]
    # The cap: a second delivery in the same month asks nothing; a retried batch neither.
    _post(client, tenant, [_delivery("a", 2, hours=1)])
    _post(client, tenant, [_delivery("a", 1)])
    assert len(_suggested(client, tenant)) == 1
    # At most one per customer within one batch; another customer is asked.
    _post(client, tenant, [_delivery("b", 1), _delivery("b", 2, hours=1), _delivery("c", 1)])
    assert sorted(e["customer_ref"] for e in _suggested(client, tenant)) == ["a", "b", "c"]


def test_no_survey_for_customers_who_just_spoke_old_interactions_or_other_types(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    _policy(client, tenant, sampling_rate=1.0)
    _feedback(
        client,
        db,
        tenant,
        [{"text": "pos stars=5", "channel": "review", "customer_ref": "spoke"}],
    )
    answered = {
        "customer_ref": "answered",
        "type": "survey_answered",
        "occurred_at": _ago(24 * 5),
        "external_id": "s-answered",
        "attributes": {"csat": 4},
    }
    sent = {
        "customer_ref": "sent",
        "type": "survey_sent",
        "occurred_at": _ago(24 * 3),
        "external_id": "s-sent",
        "attributes": {"survey": "csat_delivery", "channel": "sms"},
    }
    order = {
        "customer_ref": "ordered",
        "type": "order",
        "occurred_at": _ago(1),
        "external_id": "o-1",
        "value": 100,
    }
    _post(client, tenant, [answered, sent, order])
    _post(
        client,
        tenant,
        [
            _delivery("spoke", 1),
            _delivery("answered", 1),
            _delivery("sent", 1),
            _delivery("old", 1, hours=24 * 10),
        ],
    )
    assert _suggested(client, tenant) == []
    # The same customer asks again once the quiet window has passed since they spoke.
    _policy(client, tenant, sampling_rate=1.0, quiet_days=2, cap_days=2)
    _post(client, tenant, [_delivery("answered", 2), _delivery("sent", 2)])
    assert sorted(e["customer_ref"] for e in _suggested(client, tenant)) == ["answered", "sent"]


def test_sampling_is_a_share_of_customers_and_bad_experiences_are_always_asked(
    client: httpx.Client, tenant: TenantKey
) -> None:
    _policy(client, tenant, sampling_rate=0.3)
    _post(client, tenant, [_delivery(f"s{k}", 1) for k in range(400)])
    share = len(_suggested(client, tenant)) / 400
    assert 0.22 < share < 0.38, share
    _post(client, tenant, [_delivery(f"late{k}", 1, late_days=3) for k in range(20)])
    late = [e for e in _suggested(client, tenant) if e["customer_ref"].startswith("late")]
    assert len(late) == 20 and all(e["bad_experience"] for e in late)
    assert "days late" in late[0]["reason"]
    _policy(client, tenant, sampling_rate=0.0, always_after_bad_experience=False)
    before = len(_suggested(client, tenant))
    _post(client, tenant, [_delivery(f"x{k}", 1, late_days=3) for k in range(20)])
    assert len(_suggested(client, tenant)) == before


@pytest.mark.parametrize(
    "surveys",
    [
        {"sampling_rate": 1.5},
        {"channels": ["fax"]},
        {"channels": []},
        {"surveys": {"cancellation": "exit"}},
        {"cap_days": -1},
        {"unknown": 1},
    ],
)
def test_bad_survey_policies_are_refused(
    client: httpx.Client, tenant: TenantKey, surveys: dict[str, Any]
) -> None:
    response = client.put(
        "/v1/customers/settings", json={"surveys": surveys}, headers=tenant.headers
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
