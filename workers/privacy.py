"""The retention job: per tenant, delete or anonymise items older than its policy allows."""

from __future__ import annotations

import logging
from typing import Any

from store import audit as audit_store
from store import privacy as privacy_store
from store.db import Database

log = logging.getLogger(__name__)


def run_retention(db: Database, batch: int = 5_000) -> list[dict[str, Any]]:
    """One pass over every tenant with a policy; each tenant's pass is its own transaction.

    At most ``batch`` items per tenant per pass keep transactions short; the job runs
    again at the next beat tick for the rest. Returns the recorded runs.
    """
    with db.transaction() as conn:
        policies = privacy_store.retention_policies(conn)
    runs = []
    for policy in policies:
        with db.transaction() as conn:
            run = privacy_store.apply_retention(
                conn, policy["tenant_id"], policy["days"], policy["mode"], batch
            )
            if run["counts"].get("feedback"):
                audit_store.record(
                    conn,
                    audit_store.AuditEntry(
                        tenant_id=policy["tenant_id"],
                        actor_type="system",
                        actor_id=None,
                        actor_name="retention",
                        action=f"retention.{policy['mode']}",
                        target_type="retention_run",
                        target_id=str(run["id"]),
                        details=run["counts"],
                    ),
                )
        if run["counts"].get("feedback"):
            log.info("retention: %s", run["counts"], extra={"tenant_id": str(policy["tenant_id"])})
        runs.append(run)
    return runs
