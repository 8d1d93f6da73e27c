"""Themes on a real Postgres: built at each refit, edits surviving refits, the API, tenants."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import httpx
import numpy as np
import pytest

from langnghe.config import Settings
from store import themes as themes_store
from store import topics as topics_store
from store.db import Database
from tests.conftest import TenantKey, make_tenant
from tests.topic_fixture import GROUPS, corpus, fixture_embeddings, group_names, store_analysed
from workers.topics import refit_tenant

pytestmark = pytest.mark.integration


def _settings(database_url: str, tmp_path: Path, distance: float | None = None) -> Settings:
    settings = Settings(database_url=database_url, data_dir=tmp_path, topics_min_docs=20)
    if distance is not None:
        settings = settings.model_copy(update={"topics_theme_distance": distance})
    return settings


def _seed(db: Database, tenant_id: UUID) -> list[UUID]:
    texts, _ = corpus()
    rng = np.random.default_rng(7)
    now = datetime.now(UTC)
    when = [now - timedelta(days=float(rng.uniform(0, 28))) for _ in texts]
    return store_analysed(db, tenant_id, texts, fixture_embeddings(), group_names(), when)


def _topic_of_groups(db: Database, tenant_id: UUID, ids: list[UUID]) -> dict[str, int]:
    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT feedback_id, topic_id FROM topic_assignments WHERE tenant_id = %s",
            (tenant_id,),
        ).fetchall()
    by_id = {r["feedback_id"]: r["topic_id"] for r in rows}
    names = group_names()
    return {
        g: Counter(by_id[i] for i, n in zip(ids, names, strict=True) if n == g).most_common(1)[0][0]
        for g in GROUPS
    }


def _theme_of_topics(db: Database, tenant_id: UUID) -> dict[int, int | None]:
    with db.transaction() as conn:
        return {t["id"]: t["theme_id"] for t in topics_store.list_topics(conn, tenant_id)}


def test_a_refit_puts_every_topic_in_one_theme(
    db: Database, tenant: TenantKey, database_url: str, tmp_path: Path
) -> None:
    _seed(db, tenant.id)
    result = refit_tenant(db, tenant.id, _settings(database_url, tmp_path))
    with db.transaction() as conn:
        topics = [t for t in topics_store.list_topics(conn, tenant.id) if t["active"]]
        themes = {t["id"]: t for t in themes_store.list_themes(conn, tenant.id)}
    assert 1 <= result.n_themes <= result.n_topics
    assert all(t["theme_id"] in themes and themes[t["theme_id"]]["active"] for t in topics)
    for theme_id, theme in themes.items():
        members = [t for t in topics if t["theme_id"] == theme_id]
        assert theme["size"] == sum(t["size"] for t in members) > 0
        # Named from its topics' phrases.
        words = {w for t in members for w, _ in t["keywords"]}
        assert theme["auto_label"].split(" / ")[0].split(" · ")[0] in words


def test_a_wide_threshold_makes_one_bilingual_theme_and_a_narrow_one_a_theme_per_topic(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    wide, narrow = make_tenant(db), make_tenant(db)
    for tenant, distance in ((wide, 1.99), (narrow, 0.01)):
        _seed(db, tenant.id)
        refit_tenant(db, tenant.id, _settings(database_url, tmp_path, distance))
    with db.transaction() as conn:
        wide_themes = [t for t in themes_store.list_themes(conn, wide.id) if t["active"]]
        narrow_themes = [t for t in themes_store.list_themes(conn, narrow.id) if t["active"]]
        narrow_topics = [t for t in topics_store.list_topics(conn, narrow.id) if t["active"]]
    assert len(wide_themes) == 1 and " / " in wide_themes[0]["auto_label"]
    assert len(narrow_themes) == len(narrow_topics)


def test_theme_edits_survive_a_refit(
    db: Database, tenant: TenantKey, database_url: str, tmp_path: Path
) -> None:
    ids = _seed(db, tenant.id)
    # One topic per theme, so every move is between two themes the grouping keeps apart.
    settings = _settings(database_url, tmp_path, 0.01)
    refit_tenant(db, tenant.id, settings)
    topic = _topic_of_groups(db, tenant.id, ids)
    before = _theme_of_topics(db, tenant.id)
    delivery_theme = before[topic["delivery"]]
    assert delivery_theme is not None and before[topic["refund"]] != delivery_theme
    with db.transaction() as conn:
        themes_store.move_topic(conn, tenant.id, topic["refund"], delivery_theme)
        assert themes_store.rename_theme(conn, tenant.id, delivery_theme, "Giao hàng và tiền")

    refit_tenant(db, tenant.id, settings)
    assert _topic_of_groups(db, tenant.id, ids) == topic
    after = _theme_of_topics(db, tenant.id)
    assert after[topic["refund"]] == delivery_theme
    for group in ("staff", "app", "quality", "delivery"):
        assert after[topic[group]] == before[topic[group]]
    with db.transaction() as conn:
        theme = themes_store.get_theme(conn, tenant.id, delivery_theme)
        places = themes_store.topic_places(conn, tenant.id)
    assert theme and theme["name"] == "Giao hàng và tiền" and theme["active"]
    assert places[topic["refund"]].pinned

    # Unpinned, the topic is in no theme until the next refit gives it one of its own.
    with db.transaction() as conn:
        themes_store.move_topic(conn, tenant.id, topic["refund"], None)
    assert _theme_of_topics(db, tenant.id)[topic["refund"]] is None
    refit_tenant(db, tenant.id, settings)
    again = _theme_of_topics(db, tenant.id)
    assert again[topic["refund"]] not in (None, delivery_theme)
    assert again[topic["delivery"]] == delivery_theme


@pytest.fixture
def fitted(db: Database, tenant: TenantKey, database_url: str, tmp_path: Path) -> dict[str, int]:
    """The corpus refitted with one theme per topic; returns each group's topic id."""
    ids = _seed(db, tenant.id)
    refit_tenant(db, tenant.id, _settings(database_url, tmp_path, 0.01))
    return _topic_of_groups(db, tenant.id, ids)


def test_theme_api_lists_drills_down_and_edits(
    client: httpx.Client, tenant: TenantKey, fitted: dict[str, int]
) -> None:
    h = tenant.headers
    theme_of = _api_theme_of(client, h)
    delivery, refund = theme_of[fitted["delivery"]], theme_of[fitted["refund"]]
    moved = client.put(
        f"/v1/topics/{fitted['refund']}/theme", json={"theme_id": delivery}, headers=h
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["theme_id"] == delivery and moved.json()["theme_pinned"] is True
    renamed = client.patch(f"/v1/themes/{delivery}", json={"label": "Giao hàng"}, headers=h)
    assert renamed.json()["label"] == "Giao hàng" and renamed.json()["custom_label"] == "Giao hàng"

    body = client.get("/v1/themes", headers=h).json()
    assert body["total"] == len(corpus()[0])
    themes = {t["id"]: t for t in body["themes"]}
    both = themes[delivery]
    assert {t["id"] for t in both["topics"]} == {fitted["delivery"], fitted["refund"]}
    assert both["size"] == sum(t["size"] for t in both["topics"])
    assert both["label"] == "Giao hàng" and both["topic_count"] == 2
    assert sum(p["count"] for p in both["trend"]) == both["size"]
    assert refund not in themes  # left empty by the move
    assert (
        abs(sum(t["share"] for t in body["themes"]) + body["unthemed"] / body["total"] - 1) < 0.01
    )

    detail = client.get(f"/v1/themes/{delivery}", params={"quotes": 6}, headers=h).json()
    assert detail["size"] == both["size"] and len(detail["quotes"]) == 6
    # Quotes come in turn from the theme's topics, each with its topic.
    quoted = {q["topic_id"] for q in detail["quotes"]}
    assert quoted == {fitted["delivery"], fitted["refund"]}
    assert all(q["topic_label"] and q["channel"] and q["at"] for q in detail["quotes"])
    assert sum(p["count"] for p in detail["trend_weekly"]) == detail["size"]

    drivers = client.get("/v1/themes/drivers", headers=h).json()["drivers"]
    assert [d["rank"] for d in drivers] == list(range(1, len(drivers) + 1))
    # The all-positive staff theme lifts CSAT: it ranks last.
    assert drivers[-1]["theme_id"] == theme_of[fitted["staff"]] and drivers[-1]["csat_impact"] > 0
    trends = client.get("/v1/themes/trends", headers=h).json()
    assert {s["theme_id"] for s in trends["series"]} == set(themes)
    assert all(len(s["counts"]) == len(trends["periods"]) for s in trends["series"])

    unpinned = client.put(
        f"/v1/topics/{fitted['refund']}/theme", json={"theme_id": None}, headers=h
    )
    assert unpinned.json()["theme_pinned"] is False and unpinned.json()["theme_id"] is None


def _api_theme_of(client: httpx.Client, headers: dict[str, str]) -> dict[int, int]:
    themes = client.get("/v1/themes", headers=headers).json()["themes"]
    return {topic["id"]: t["id"] for t in themes for topic in t["topics"]}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("get", "/v1/themes/999999", None, 404, "not_found"),
        ("get", "/v1/themes/-1", None, 422, "validation_error"),
        ("patch", "/v1/themes/999999", {"label": "x"}, 404, "not_found"),
        ("patch", "/v1/themes/0", {}, 422, "validation_error"),
        ("patch", "/v1/themes/0", {"label": ""}, 422, "validation_error"),
        ("put", "/v1/topics/999999/theme", {"theme_id": 0}, 404, "not_found"),
        ("put", "/v1/topics/0/theme", {"theme_id": 999999}, 404, "not_found"),
        ("put", "/v1/topics/0/theme", {"theme": 1}, 422, "validation_error"),
        ("get", "/v1/themes?channel=fax", None, 422, "validation_error"),
    ],
)
def test_bad_theme_requests_get_the_error_shape(
    client: httpx.Client,
    tenant: TenantKey,
    fitted: dict[str, int],
    method: str,
    path: str,
    body: object,
    status: int,
    code: str,
) -> None:
    response = client.request(method, path, json=body, headers=tenant.headers)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_a_merged_topic_cannot_be_moved(
    client: httpx.Client, tenant: TenantKey, fitted: dict[str, int]
) -> None:
    h = tenant.headers
    client.post(f"/v1/topics/{fitted['refund']}/merge", json={"into": fitted["app"]}, headers=h)
    theme = _api_theme_of(client, h)[fitted["delivery"]]
    response = client.put(
        f"/v1/topics/{fitted['refund']}/theme", json={"theme_id": theme}, headers=h
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_move"


def test_themes_are_tenant_scoped(
    client: httpx.Client,
    db: Database,
    tenant: TenantKey,
    fitted: dict[str, int],
    database_url: str,
    tmp_path: Path,
) -> None:
    other = make_tenant(db)
    theme = _api_theme_of(client, tenant.headers)[fitted["delivery"]]
    # Before its own first fit the other tenant sees none of this tenant's themes.
    assert client.get("/v1/themes", headers=other.headers).json()["themes"] == []
    assert client.get(f"/v1/themes/{theme}", headers=other.headers).status_code == 404
    renamed = client.patch(f"/v1/themes/{theme}", json={"label": "x"}, headers=other.headers)
    assert renamed.status_code == 404
    moved = client.put(
        f"/v1/topics/{fitted['refund']}/theme", json={"theme_id": theme}, headers=other.headers
    )
    assert moved.status_code == 404

    # With its own fit, it gets its own themes (numbered from 0 too); editing them leaves
    # this tenant's alone, and neither tenant's list counts the other's items.
    _seed(db, other.id)
    refit_tenant(db, other.id, _settings(database_url, tmp_path, 0.01))
    mine = client.get("/v1/themes", headers=tenant.headers).json()
    for t in client.get("/v1/themes", headers=other.headers).json()["themes"]:
        client.patch(f"/v1/themes/{t['id']}", json={"label": "khác"}, headers=other.headers)
    after = client.get("/v1/themes", headers=tenant.headers).json()
    assert after == mine and all(t["label"] != "khác" for t in after["themes"])
    theirs = client.get("/v1/themes", headers=other.headers).json()
    assert theirs["total"] == len(corpus()[0]) and all(
        t["label"] == "khác" for t in theirs["themes"]
    )
