"""A refit asked for over HTTP is done by a real Celery worker process."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from langnghe.config import Settings
from store.db import Database
from tests.conftest import TenantKey
from tests.e2e.test_end_to_end import worker_process
from tests.helpers import running_api, wait_until
from tests.topic_fixture import corpus, fixture_embeddings, group_names, store_analysed

pytestmark = pytest.mark.e2e


def test_post_refit_is_carried_out_by_the_worker(
    db: Database, tenant: TenantKey, database_url: str, tmp_path: Path
) -> None:
    texts, _ = corpus()
    store_analysed(db, tenant.id, texts, fixture_embeddings(), group_names())
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        topics_min_docs=20,
        # Keep beat's own topic entries out of the way of the one asked for.
        topics_due_check_interval_s=3600,
    )
    with (
        running_api(settings) as api_url,
        httpx.Client(base_url=api_url, headers=tenant.headers, timeout=30) as client,
        worker_process(settings, tmp_path / "worker.log"),
    ):
        assert client.post("/v1/topics/refit").status_code == 202

        def fitted() -> bool:
            fit = client.get("/v1/topics/fit").json()["fit"]
            assert fit is None or fit["status"] != "failed", fit
            return fit is not None and fit["status"] == "done"

        wait_until(fitted, 300, "the worker to refit the topics")
        topics = client.get("/v1/topics").json()
        assert len(topics["topics"]) >= 4 and topics["unassigned"] <= len(texts) * 0.2
