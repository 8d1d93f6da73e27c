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


def _ids(client: httpx.Client, tenant: TenantKey, marker: str) -> list[UUID]:
    """The tenant's items whose text has ``marker`` as a word."""
    found: list[UUID] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        body = client.get("/v1/feedback", params=params, headers=tenant.headers).json()
        found += [UUID(i["id"]) for i in body["items"] if marker in i["text"].split()]
        cursor = body.get("next_cursor")
        if not cursor:
            return found


def _place(
    db: Database,
    tenant: TenantKey,
    topics: dict[int, list[UUID]],
    merged: dict[int, int] | None = None,
    noise: tuple[int, ...] = (),
    themes: dict[int, list[int]] | None = None,
) -> None:
    """Store topics with these items (as a refit would), then the analyst's merges and noise,
    and themes over the topics."""
    import numpy as np

    from store import themes as themes_store
    from store import topics as topics_store

    with db.transaction() as conn:
        topics_store.save_topics(
            conn,
            tenant.id,
            [
                topics_store.FittedTopic(t, [("w", 1.0)], f"topic {t}", np.eye(4)[t], 0.5, len(i))
                for t, i in topics.items()
            ],
        )
        for topic_id, items in topics.items():
            topics_store.upsert_assignments(
                conn, tenant.id, items, [topic_id] * len(items), [0.9] * len(items)
            )
        for source, target in (merged or {}).items():
            topics_store.merge_topics(conn, tenant.id, source, target)
        for topic_id in noise:
            topics_store.edit_topic(conn, tenant.id, topic_id, is_noise=True)
        grouped = themes or {}
        themes_store.save_themes(
            conn,
            tenant.id,
            [themes_store.FittedTheme(t, f"theme {t}", 0) for t in grouped],
            {topic: theme for theme, members in grouped.items() for topic in members},
        )


def test_series_by_topic_and_by_theme_resolve_merges(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    day = datetime(2026, 4, 6, 9, tzinfo=UTC)
    items: list[dict[str, Any]] = [
        {"text": f"pos stars=5 a{n} ta", "channel": "review", "occurred_at": day.isoformat()}
        for n in range(4)
    ]
    items += [
        {"text": f"neg stars=1 b{n} tb", "channel": "email", "occurred_at": day.isoformat()}
        for n in range(3)
    ]
    items += [
        {"text": f"neg stars=2 c{n} tc", "channel": "email", "occurred_at": day.isoformat()}
        for n in range(2)
    ]
    items.append({"text": "pos stars=4 none", "channel": "review", "occurred_at": day.isoformat()})
    _analyse(client, db, tenant, items)
    a, b, c = (_ids(client, tenant, m) for m in ("ta", "tb", "tc"))
    # Topic 2 merged into topic 1: its items count under 1, and in 1's theme.
    _place(db, tenant, {0: a, 1: b, 2: c}, merged={2: 1}, themes={0: [0], 1: [1]})
    params: dict[str, Any] = {"period": "day", "since": "2026-04-01T00:00:00Z"}
    by_topic = client.get(
        "/v1/signals/csat", params={**params, "by": "topic"}, headers=tenant.headers
    ).json()
    assert by_topic["by"] == ["topic"]
    points = {p["topic_id"]: p for p in by_topic["points"]}
    assert {t: p["n"] for t, p in points.items()} == {0: 4, 1: 5, -1: 1}
    assert points[0]["topic_label"] == "topic 0" and points[-1]["topic_label"] is None
    assert points[0]["inferred_csat_pct"] > points[1]["inferred_csat_pct"]
    by_theme = client.get(
        "/v1/signals/csat", params={**params, "by": ["theme", "channel"]}, headers=tenant.headers
    ).json()
    cells = {(p["theme_id"], p["channel"]): p["n"] for p in by_theme["points"]}
    assert cells == {(0, "review"): 4, (1, "email"): 5, (-1, "review"): 1}
    assert {p["theme_label"] for p in by_theme["points"]} == {"theme 0", "theme 1", None}
    bad = client.get("/v1/signals/csat", params={"by": "colour"}, headers=tenant.headers)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"


def _spread(
    now: datetime, kind: str, stars: int, marker: str, count: int, hours: float
) -> list[dict[str, Any]]:
    """Items spread over channels and languages, so that no channel x language segment has
    enough of them to be tested."""
    channels = ("review", "email", "social", "survey")
    return [
        {
            "text": f"{kind} stars={stars} {marker}{n} {marker}{' vi' if n % 2 else ''}",
            "channel": channels[n % 4],
            "occurred_at": (now - timedelta(hours=hours + n % 20)).isoformat(),
        }
        for n in range(count)
    ]


def _the_one_drop(
    client: httpx.Client, db: Database, tenant: TenantKey, now: datetime
) -> dict[str, Any]:
    """Detect drops twice an hour apart; the one event's data (35 recent at 1 star against
    40 earlier at 5: a drop that must fire once a day)."""
    rule = DropRule(min_n=30)
    assert detect_csat_drops(db, rule, now) == 1
    assert detect_csat_drops(db, rule, now + timedelta(hours=1)) == 0  # once per day
    (event,) = client.get(
        "/v1/events", params={"type": "signal.csat_drop"}, headers=tenant.headers
    ).json()["events"]
    data: dict[str, Any] = event["data"]
    assert data["recent"]["n"] == 35 and data["baseline"]["n"] == 40
    assert data["drop_pct_points"] > 80 and data["z"] < -2.58
    return data


def test_a_topic_whose_csat_drops_raises_its_own_event(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    now = datetime(2026, 7, 15, 12, tzinfo=UTC)
    items = _spread(now, "pos", 5, "base", 40, 60) + _spread(now, "neg", 1, "late", 35, 1)
    items += _spread(now, "pos", 5, "nbase", 40, 60) + _spread(now, "neg", 1, "nlate", 35, 1)
    _analyse(client, db, tenant, items)
    dropping = _ids(client, tenant, "base") + _ids(client, tenant, "late")
    noisy = _ids(client, tenant, "nbase") + _ids(client, tenant, "nlate")
    # Topic 1 drops the same way but is marked noise: no alert for it.
    _place(db, tenant, {0: dropping, 1: noisy}, noise=(1,))
    data = _the_one_drop(client, db, tenant, now)
    assert data["segment"] == {"topic_id": 0, "label": "topic 0"}


def test_a_theme_whose_csat_drops_raises_its_own_event(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    from store import themes as themes_store

    now = datetime(2026, 8, 12, 12, tzinfo=UTC)
    # Split over two topics of one theme, so that no topic has enough items: only the theme.
    items = _spread(now, "pos", 5, "abase", 20, 60) + _spread(now, "neg", 1, "alate", 18, 1)
    items += _spread(now, "pos", 5, "bbase", 20, 60) + _spread(now, "neg", 1, "blate", 17, 1)
    items += _spread(now, "pos", 5, "nbase", 40, 60) + _spread(now, "neg", 1, "nlate", 35, 1)
    _analyse(client, db, tenant, items)
    first = _ids(client, tenant, "abase") + _ids(client, tenant, "alate")
    second = _ids(client, tenant, "bbase") + _ids(client, tenant, "blate")
    noisy = _ids(client, tenant, "nbase") + _ids(client, tenant, "nlate")
    # Theme 4 holds topics 0 and 1; theme 5 only topic 2, marked noise: no alert for it.
    _place(db, tenant, {0: first, 1: second, 2: noisy}, noise=(2,), themes={4: [0, 1], 5: [2]})
    with db.transaction() as conn:
        assert themes_store.rename_theme(conn, tenant.id, 4, "Giao hàng")
    data = _the_one_drop(client, db, tenant, now)
    assert data["segment"] == {"theme_id": 4, "label": "Giao hàng"}
