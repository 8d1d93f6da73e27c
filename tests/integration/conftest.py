"""A real API server on a free local port, for tests that speak HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from langnghe.config import Settings
from tests.helpers import running_api


@pytest.fixture(scope="session")
def api_settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings for the test server: small limits so the limit paths are cheap to hit."""
    return Settings(
        database_url=database_url,
        data_dir=tmp_path_factory.mktemp("data"),
        max_text_bytes=2_000,
        max_batch_items=20,
        max_request_bytes=200_000,
        # Webhook receivers in tests listen on loopback: allow exactly that.
        webhook_allowed_networks="127.0.0.0/8,::1/128",
    )


@pytest.fixture(scope="session")
def api_url(api_settings: Settings) -> Iterator[str]:
    """Base URL of the test API server."""
    with running_api(api_settings) as url:
        yield url


@pytest.fixture
def client(api_url: str) -> Iterator[httpx.Client]:
    """An HTTP client on the test server."""
    with httpx.Client(base_url=api_url, timeout=30) as http:
        yield http
