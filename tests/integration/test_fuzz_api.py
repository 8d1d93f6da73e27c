"""Fuzz every operation of the API from its own OpenAPI schema: no input may cause a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.schemas import BaseSchema

from tests.conftest import TenantKey

pytestmark = pytest.mark.integration


@pytest.fixture
def api_schema(api_url: str) -> BaseSchema:
    """The schema the running server publishes."""
    schema: BaseSchema = schemathesis.openapi.from_url(f"{api_url}/openapi.json")
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_input_causes_a_server_error(case: schemathesis.Case, tenant: TenantKey) -> None:
    response = case.call(headers=tenant.headers)
    assert response.status_code < 500, f"{case.method} {case.path}: {response.text[:500]}"
