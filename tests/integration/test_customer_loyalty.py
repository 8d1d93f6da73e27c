"""The loyalty report: repeat purchases, revenue and churn by NPS class and CSAT band."""

from __future__ import annotations

import itertools
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from store import tenants as tenants_store
from store.db import Database
from tests.conftest import TenantKey

pytestmark = pytest.mark.integration


def _month_starts() -> tuple[datetime, datetime, datetime]:
    """The first instants (UTC) of the month before last, last month and this month."""
    this = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last = (this - timedelta(days=1)).replace(day=1)
    before = (last - timedelta(days=1)).replace(day=1)
    return before, last, this


def _row(ref: str, type_: str, at: datetime, n: int, **extra: Any) -> dict[str, Any]:
    return {
        "customer_ref": ref,
        "type": type_,
        "occurred_at": at.isoformat(),
        "external_id": f"{ref}-{type_}-{n}",
        "source": "shop",
        **extra,
    }


def _by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in rows}


def test_loyalty_by_nps_class_and_csat_band_per_month(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    before, last, _ = _month_starts()
    day = timedelta(days=1)
    items = [
        _row("p1", "survey_answered", before + day, 1, attributes={"nps": 10, "csat": 5}),
        _row("p1", "order", before + 3 * day, 1, value=100),
        _row("p1", "order", before + 9 * day, 2, value=100),
        _row("p1", "order", last + 2 * day, 3, value=50),
        # An answer after the month's end changes the class of later months only.
        _row("p1", "survey_answered", last + 3 * day, 2, attributes={"nps": 2}),
        _row("d1", "survey_answered", before + day, 1, attributes={"nps": 3}),
        _row("d1", "order", before + 2 * day, 1, value=80),
        _row("d1", "cancellation", before + 4 * day, 1),
        _row("u1", "order", before + 5 * day, 1, value=40),
        _row("c1", "survey_answered", before + day, 1, attributes={"csat": 2}),
        _row("c1", "order", before + 6 * day, 1, value=30),
    ]
    response = client.post("/v1/interactions", json={"items": items}, headers=tenant.headers)
    assert response.status_code == 202, response.text

    report = client.get(
        "/v1/customers/loyalty", params={"period": "month", "periods": 3}, headers=tenant.headers
    )
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["period"] == "month"
    assert [datetime.fromisoformat(p["start"]) for p in body["periods"]] == list(_month_starts())
    first, second, current = body["periods"]
    assert first["customers"] == 4 and current["customers"] == 0

    nps = _by_name(first["nps_class"])
    assert list(nps) == ["promoter", "passive", "detractor", "unknown"]
    assert nps["promoter"] == {
        "name": "promoter",
        "customers": 1,
        "buyers": 1,
        "repeat_purchase_rate": 1.0,
        "revenue": 200.0,
        "revenue_per_customer": 200.0,
        "churn_rate": 0.0,
        "lapse_rate": 0.0,
    }
    assert nps["detractor"]["churn_rate"] == 1.0 and nps["detractor"]["lapse_rate"] == 1.0
    assert nps["detractor"]["repeat_purchase_rate"] == 0.0
    assert nps["passive"]["customers"] == 0 and nps["passive"]["revenue_per_customer"] is None
    assert nps["unknown"]["customers"] == 2 and nps["unknown"]["revenue_per_customer"] == 35.0
    csat = _by_name(first["csat_band"])
    assert [csat[b]["customers"] for b in ("high", "neutral", "low", "unknown")] == [1, 0, 1, 2]
    assert csat["low"]["revenue"] == 30.0

    later = _by_name(second["nps_class"])
    assert later["detractor"]["customers"] == 1 and later["detractor"]["revenue"] == 50.0
    assert later["promoter"]["customers"] == 0
    assert later["detractor"]["lapse_rate"] is None  # this month is not over yet

    with db.transaction() as conn:
        other_id = tenants_store.create_tenant(conn, f"other-{secrets.token_hex(4)}").id
        other = {"Authorization": f"Bearer {tenants_store.create_api_key(conn, other_id)}"}
    alone = client.get("/v1/customers/loyalty", params={"periods": 3}, headers=other).json()
    assert [p["customers"] for p in alone["periods"]] == [0, 0, 0]


@pytest.mark.parametrize("params", [{"period": "year"}, {"periods": 0}, {"periods": 61}])
def test_bad_loyalty_parameters_are_refused(
    client: httpx.Client, tenant: TenantKey, params: dict[str, Any]
) -> None:
    response = client.get("/v1/customers/loyalty", params=params, headers=tenant.headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


def test_the_weekly_report_has_twelve_weeks_by_default(
    client: httpx.Client, tenant: TenantKey
) -> None:
    body = client.get(
        "/v1/customers/loyalty", params={"period": "week"}, headers=tenant.headers
    ).json()
    starts = [datetime.fromisoformat(p["start"]) for p in body["periods"]]
    assert len(starts) == 12 and all(s.weekday() == 0 for s in starts)
    assert all(b - a == timedelta(weeks=1) for a, b in itertools.pairwise(starts))
