"""Inferred CSAT/NPS series and the signal.csat_drop event on a real Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from store.db import Database
from tests.conftest import TenantKey
from tests.integration.scripted import ScriptedAnalyzer
from workers.analysis import analyze_batch
from workers.signals import DropRule, detect_csat_drops

pytestmark = pytest.mark.integration


def _analyse(
    client: httpx.Client, db: Database, tenant: TenantKey, items: list[dict[str, Any]]
) -> None:
    for start in range(0, len(items), 20):
        response = client.post(
            "/v1/feedback", json={"items": items[start : start + 20]}, headers=tenant.headers
        )
        assert response.status_code == 202, response.text
        ids = [UUID(i["id"]) for i in response.json()["items"]]
        analyze_batch(db, ScriptedAnalyzer(), ids, max_attempts=5)


def test_daily_series_per_channel_with_real_scores_beside(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    day1 = datetime(2026, 3, 2, 10, tzinfo=UTC)
    day2 = day1 + timedelta(days=1)
    items: list[dict[str, Any]] = [
        # day 1, reviews: inferred 5 stars, real ratings 5, 5, 2
        {"text": "pos stars=5", "channel": "review", "rating": 5, "occurred_at": day1.isoformat()},
        {"text": "pos stars=5", "channel": "review", "rating": 5, "occurred_at": day1.isoformat()},
        {"text": "pos stars=5", "channel": "review", "rating": 2, "occurred_at": day1.isoformat()},
        # day 1, surveys with NPS answers
        {
            "text": "neg stars=1",
            "channel": "survey",
            "survey_score": 2,
            "occurred_at": day1.isoformat(),
        },
        {
            "text": "pos stars=5",
            "channel": "survey",
            "survey_score": 10,
            "occurred_at": day1.isoformat(),
        },
        # day 2, reviews without ratings
        {"text": "neg stars=1", "channel": "review", "occurred_at": day2.isoformat()},
    ]
    _analyse(client, db, tenant, items)
    series = client.get(
        "/v1/signals/csat",
        params={"period": "day", "by": "channel", "since": "2026-03-01T00:00:00Z"},
        headers=tenant.headers,
    ).json()
    points = {(p["period_start"][:10], p["channel"]): p for p in series["points"]}
    assert set(points) == {
        ("2026-03-02", "review"),
        ("2026-03-02", "survey"),
        ("2026-03-03", "review"),
    }
    reviews = points[("2026-03-02", "review")]
    assert reviews["n"] == 3 and reviews["rated_n"] == 3
    assert reviews["inferred_csat_pct"] == pytest.approx(92.5)
    assert reviews["real_csat_pct"] == pytest.approx(66.67)
    assert reviews["csat_calibration_error_pct"] == pytest.approx(25.83, abs=0.01)
    assert reviews["inferred_nps"] == 100
    low, high = reviews["inferred_csat_ci"]
    assert low < 92.5 < high
    surveys = points[("2026-03-02", "survey")]
    assert surveys["real_nps"] == 0 and surveys["inferred_nps"] == 0
    assert surveys["nps_calibration_error"] == 0
    later = points[("2026-03-03", "review")]
    assert later["rated_n"] == 0 and later["real_csat_pct"] is None
    weekly = client.get(
        "/v1/signals/csat",
        params={"period": "week", "since": "2026-03-01T00:00:00Z", "until": "2026-04-01T00:00:00Z"},
        headers=tenant.headers,
    ).json()
    assert [p["n"] for p in weekly["points"]] == [6]
    bad = client.get("/v1/signals/csat", params={"period": "year"}, headers=tenant.headers)
    assert bad.status_code == 422
    bad = client.get(
        "/v1/signals/csat",
        params={"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"},
        headers=tenant.headers,
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_range"


def test_a_significant_drop_emits_one_csat_drop_event(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    now = datetime(2026, 5, 20, 12, tzinfo=UTC)
    baseline = [
        {
            "text": f"pos stars=5 b{n}",
            "channel": "social",
            "occurred_at": (now - timedelta(days=2 + n % 10)).isoformat(),
        }
        for n in range(40)
    ]
    recent = [
        {
            "text": f"neg stars=1 r{n} vi",
            "channel": "social",
            "occurred_at": (now - timedelta(hours=1 + n % 20)).isoformat(),
        }
        for n in range(35)
    ]
    # Same channel, other language: a segment of its own that did not drop.
    steady = [
        {
            "text": f"pos stars=5 s{n}",
            "channel": "social",
            "occurred_at": (now - timedelta(hours=2)).isoformat(),
        }
        for n in range(35)
    ]
    baseline_vi = [{**b, "text": b["text"] + " vi"} for b in baseline]
    _analyse(client, db, tenant, baseline + baseline_vi + recent + steady)
    rule = DropRule(min_n=30)
    assert detect_csat_drops(db, rule, now) == 1
    assert detect_csat_drops(db, rule, now + timedelta(hours=1)) == 0  # once per day
    events = client.get(
        "/v1/events", params={"type": "signal.csat_drop"}, headers=tenant.headers
    ).json()["events"]
    (event,) = events
    data = event["data"]
    assert data["segment"] == {"channel": "social", "language": "vi"}
    assert data["recent"]["n"] == 35 and data["baseline"]["n"] == 40
    assert data["drop_pct_points"] > 80 and data["z"] < -2.58
