"""The per-item outcome that ``store.interactions`` writes in Postgres for the 202.

The batch statement answers each duplicate with the id of the row that holds its key, read
from the statement's snapshot; a row a concurrent transaction commits while the statement
waits on it is not in that snapshot, and its id is looked up again afterwards. These tests
pin both: the answer's shape (the API's AcceptedResponse) and that race, provoked
deterministically with a transaction held open.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from api.schemas import AcceptedResponse
from store import interactions as interactions_store
from store.db import Database
from tests.conftest import TenantKey

pytestmark = pytest.mark.integration

AT = datetime.now(UTC) - timedelta(days=1)


def _row(external_id: str | None) -> interactions_store.NewInteraction:
    return interactions_store.NewInteraction("shop", "c-1", "order", AT, external_id=external_id)


def test_the_answer_is_an_accepted_response_in_input_order(
    client: httpx.Client, tenant: TenantKey
) -> None:
    items = [
        {"customer_ref": "a", "type": "order", "occurred_at": AT.isoformat(), "external_id": k}
        for k in ['q"1', "q2", 'q"1', None]
    ]
    del items[3]["external_id"]
    response = client.post("/v1/interactions", json={"items": items}, headers=tenant.headers)
    assert response.status_code == 202, response.text
    answer = AcceptedResponse.model_validate_json(response.content)
    assert [i.external_id for i in answer.items] == ['q"1', "q2", 'q"1', None]
    assert [i.duplicate for i in answer.items] == [False, False, True, False]
    assert answer.items[2].id == answer.items[0].id
    assert (answer.accepted, answer.duplicates) == (3, 1)
    assert json.loads(response.content)["items"][3] == {
        "id": str(answer.items[3].id),
        "external_id": None,
        "duplicate": False,
    }


def test_a_duplicate_committed_during_the_insert_gets_the_committed_id(
    db: Database, tenant: TenantKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome: list[interactions_store.Inserted] = []
    looked_up: list[str] = []
    fill = interactions_store._fill_missing

    def counted(*args: Any) -> interactions_store.BatchOutcome:
        looked_up.append("again")
        return fill(*args)

    # Proves the race was met: the snapshot missed the row and the second look found it.
    monkeypatch.setattr(interactions_store, "_fill_missing", counted)

    def second() -> None:
        with db.transaction() as conn:
            # Waits on the first transaction's uncommitted row for "k-2", then skips it.
            outcome.extend(
                interactions_store.insert_interactions(conn, tenant.id, [_row("k-1"), _row("k-2")])
            )

    with db.transaction() as conn:
        (first,) = interactions_store.insert_interactions(conn, tenant.id, [_row("k-2")])
        waiting = threading.Thread(target=second)
        waiting.start()
        time.sleep(0.5)  # the second statement is now blocked on "k-2"
        assert waiting.is_alive()
    waiting.join(timeout=30)
    assert looked_up == ["again"]
    assert [i.duplicate for i in outcome] == [False, True]
    assert outcome[1].id == first.id
