"""The topic report API over HTTP, on topics fitted from the known-groups corpus."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest

from langnghe.config import Settings
from store.db import Database
from tests.conftest import TenantKey
from tests.topic_fixture import GROUPS, corpus, fixture_embeddings, group_names, store_analysed
from workers.topics import refit_tenant

pytestmark = pytest.mark.integration


@pytest.fixture
def fitted(db: Database, tenant: TenantKey, database_url: str, tmp_path: Path) -> dict[str, int]:
    """The corpus spread over four weeks, refitted; returns each group's topic id."""
    texts, _ = corpus()
    rng = np.random.default_rng(5)
    now = datetime.now(UTC)
    when = [now - timedelta(days=float(rng.uniform(0, 28))) for _ in texts]
    ids = store_analysed(db, tenant.id, texts, fixture_embeddings(), group_names(), when)
    settings = Settings(database_url=database_url, data_dir=tmp_path, topics_min_docs=20)
    refit_tenant(db, tenant.id, settings)
    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT feedback_id, topic_id FROM topic_assignments WHERE tenant_id = %s",
            (tenant.id,),
        ).fetchall()
    by_id = {r["feedback_id"]: r["topic_id"] for r in rows}
    names = group_names()
    return {
        g: Counter(by_id[i] for i, n in zip(ids, names, strict=True) if n == g).most_common(1)[0][0]
        for g in GROUPS
    }


def test_topic_list_has_figures_and_vietnamese_words(
    client: httpx.Client, tenant: TenantKey, fitted: dict[str, int]
) -> None:
    body = client.get("/v1/topics", headers=tenant.headers).json()
    assert body["total"] == len(corpus()[0])
    assert body["fit"]["status"] == "done"
    topics = {t["id"]: t for t in body["topics"]}
    assert set(fitted.values()) <= set(topics)
    staff = topics[fitted["staff"]]
    assert "nhân viên" in staff["keywords"]
    assert staff["sentiment"]["positive"] == 1.0 and staff["complaint_rate"] == 0.0
    assert staff["csat_mean"] > 4 and set(staff["languages"]) == {"vi", "en"}
    assert sum(p["count"] for p in staff["trend"]) == staff["size"]
    assert (
        abs(sum(t["share"] for t in body["topics"]) + body["unassigned"] / body["total"] - 1) < 0.01
    )

    english = client.get("/v1/topics", params={"language": "en"}, headers=tenant.headers).json()
    assert english["total"] == len(corpus()[0]) // 2


def test_drivers_rank_the_complaint_topics_first(
    client: httpx.Client, tenant: TenantKey, fitted: dict[str, int]
) -> None:
    body = client.get("/v1/topics/drivers", headers=tenant.headers).json()
    ranked = [d["topic_id"] for d in body["drivers"]]
    assert ranked[-1] == fitted["staff"]
    worst = body["drivers"][0]
    assert worst["csat_impact"] < 0 and worst["overall_if_like_rest"] > body["overall_csat"]


def test_topic_detail_trends_and_csat(
    client: httpx.Client, tenant: TenantKey, fitted: dict[str, int]
) -> None:
    detail = client.get(f"/v1/topics/{fitted['refund']}", headers=tenant.headers).json()
    assert len(detail["quotes"]) == 8
    assert sum(p["count"] for p in detail["trend_weekly"]) == detail["size"]
    assert sum(p["count"] for p in detail["trend_daily"]) == detail["size"]
    over = client.get("/v1/topics/trends", headers=tenant.headers).json()
    assert over["interval"] == "week" and len(over["series"]) >= len(GROUPS)
    csat = client.get("/v1/reports/csat", params={"interval": "week"}, headers=tenant.headers)
    series = csat.json()["series"]
    assert sum(p["count"] for p in series) == len(corpus()[0])
    assert all(p["nps"] is None or -100 <= p["nps"] <= 100 for p in series)


def test_edits_rename_merge_and_noise(
    client: httpx.Client, tenant: TenantKey, fitted: dict[str, int]
) -> None:
    h = tenant.headers
    renamed = client.patch(f"/v1/topics/{fitted['app']}", json={"label": "Lỗi ứng dụng"}, headers=h)
    assert renamed.status_code == 200 and renamed.json()["label"] == "Lỗi ứng dụng"
    merged = client.post(
        f"/v1/topics/{fitted['refund']}/merge", json={"into": fitted["delivery"]}, headers=h
    )
    assert merged.json()["merged_into"] == fitted["delivery"]
    noise = client.patch(f"/v1/topics/{fitted['quality']}", json={"is_noise": True}, headers=h)
    assert noise.json()["is_noise"] is True
    topics = {t["id"]: t for t in client.get("/v1/topics", headers=h).json()["topics"]}
    assert topics[fitted["app"]]["label"] == "Lỗi ứng dụng"
    assert fitted["refund"] not in topics and fitted["quality"] not in topics
    assert topics[fitted["delivery"]]["merged_from"] == [fitted["refund"]]
    # The merged topic's page shows the topic it now counts under.
    detail = client.get(f"/v1/topics/{fitted['refund']}", headers=h).json()
    assert detail["id"] == fitted["delivery"]
    reset = client.patch(f"/v1/topics/{fitted['app']}", json={"label": None}, headers=h)
    assert reset.json()["custom_label"] is None
    assert client.delete(f"/v1/topics/{fitted['refund']}/merge", headers=h).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("get", "/v1/topics/999999", None, 404, "not_found"),
        ("get", "/v1/topics/-1", None, 422, "validation_error"),
        (
            "get",
            "/v1/topics?start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z",
            None,
            422,
            "invalid_range",
        ),
        ("get", "/v1/topics?channel=fax", None, 422, "validation_error"),
        ("patch", "/v1/topics/999999", {"label": "x"}, 404, "not_found"),
        ("patch", "/v1/topics/0", {}, 422, "validation_error"),
        ("patch", "/v1/topics/0", {"label": ""}, 422, "validation_error"),
        ("patch", "/v1/topics/0", {"colour": "red"}, 422, "validation_error"),
        ("post", "/v1/topics/0/merge", {"into": 999999}, 404, "not_found"),
        ("post", "/v1/topics/0/merge", {"into": 0}, 422, "invalid_merge"),
    ],
)
def test_bad_requests_get_the_error_shape(
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


def test_refit_is_queued_and_topics_need_a_key(client: httpx.Client, tenant: TenantKey) -> None:
    assert client.get("/v1/topics").status_code == 401
    queued = client.post("/v1/topics/refit", headers=tenant.headers)
    assert queued.status_code == 202 and queued.json() == {"queued": True}
    assert client.get("/v1/topics/fit", headers=tenant.headers).json() == {"fit": None}


def test_an_event_type_with_nul_is_refused_not_a_server_error(
    client: httpx.Client, tenant: TenantKey
) -> None:
    response = client.get("/v1/events", params={"type": "\x00"}, headers=tenant.headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
