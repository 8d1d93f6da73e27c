"""Analyse a batch of stored feedback and record the result in one transaction."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

import numpy as np
import psycopg

import workers.customers
import workers.topics
from nlp.types import Analysis, FeedbackText
from store import analyses as analyses_store
from store import events as events_store
from store import feedback as feedback_store
from store.db import Conn, Database
from workers.complaints import AnalysedItem, flag_complaints
from workers.events import aspects_json, events_for
from workers.taxonomy import personalise

log = logging.getLogger(__name__)


class Analyzer(Protocol):
    """The part of nlp.pipeline.Pipeline a worker needs."""

    def analyze(self, items: Sequence[FeedbackText]) -> list[Analysis]:
        """One analysis per item, in order."""
        ...


def _analyze_isolating_failures(
    analyzer: Analyzer, claimed: Sequence[feedback_store.ClaimedItem]
) -> tuple[dict[UUID, Analysis], dict[UUID, str]]:
    """Analyse the batch; if it fails, analyse item by item so one bad text fails alone."""
    texts = [FeedbackText(text=c.text, channel=c.channel, rating=c.rating) for c in claimed]  # type: ignore[arg-type]
    try:
        results = analyzer.analyze(texts)
        return {c.id: a for c, a in zip(claimed, results, strict=True)}, {}
    except Exception:
        if len(claimed) == 1:
            log.exception("analysis failed", extra={"feedback_id": str(claimed[0].id)})
            return {}, {claimed[0].id: "analysis failed; see worker log"}
    done: dict[UUID, Analysis] = {}
    failed: dict[UUID, str] = {}
    for item, text in zip(claimed, texts, strict=True):
        try:
            done[item.id] = analyzer.analyze([text])[0]
        except Exception as exc:
            log.exception("analysis failed", extra={"feedback_id": str(item.id)})
            failed[item.id] = f"{type(exc).__name__}: {exc}"
    return done, failed


def analyze_batch(db: Database, analyzer: Analyzer, ids: Sequence[UUID], max_attempts: int) -> int:
    """Analyse the items and write analyses, events and status together; return how many.

    Safe to run twice or concurrently on the same ids: rows are locked before
    writing and items already done are skipped, so nothing is written twice. An item
    whose write fails (a stored value no column can hold) fails alone: the batch is
    written in a savepoint, and if that fails, again item by item, each in its own.
    """
    # A claim lost in a crash of Postgres leaves the items for the sweep, and the durable
    # commit of their results below makes it durable anyway: it need not wait for the disk.
    with db.transaction(durable=False) as conn:
        claimed = feedback_store.claim_for_analysis(conn, ids)
    if not claimed:
        return 0
    results, failures = _analyze_isolating_failures(analyzer, claimed)
    by_id = {c.id: c for c in claimed}
    # Each tenant's own taxonomy and refitted heads, after the shipped heads.
    results = personalise(db, analyzer, results, {c.id: c.tenant_id for c in claimed})
    # Pipeline mode: a statement whose result nothing reads is sent without waiting for
    # the one before, so the transaction waits only where it reads (18 round trips rather
    # than 23 for a batch of 32 items of one tenant with customers and complaints).
    with db.transaction() as conn, conn.pipeline():
        writable = feedback_store.lock_unfinished(conn, list(results))
        todo = [fid for fid in results if fid in writable]
        written: list[UUID] = []
        try:
            with conn.transaction():
                # A pipelined statement's error arrives with a later result; psycopg syncs
                # on leaving a savepoint in pipeline mode, so it is raised inside it and
                # rolls back this batch only (tests/integration/test_poison.py).
                _write(conn, todo, by_id, results)
            written = todo
        except psycopg.OperationalError:
            raise  # the connection is gone: nothing can be written, the sweep retries
        except Exception:
            log.warning("writing the batch failed; writing its items one by one", exc_info=True)
            for fid in todo:
                try:
                    with conn.transaction():
                        _write(conn, [fid], by_id, results)
                    written.append(fid)
                except psycopg.OperationalError:
                    raise
                except Exception as exc:
                    log.exception("writing an analysis failed", extra={"feedback_id": str(fid)})
                    # Alone in its savepoint, the item failed on its own values: a retry
                    # would fail the same way, so it is failed now (attempts limit 0).
                    reason = f"storing the analysis failed: {type(exc).__name__}: {exc}"
                    feedback_store.mark_failed_attempt(conn, [fid], reason, max_attempts=0)
        for fid, error in failures.items():
            feedback_store.mark_failed_attempt(conn, [fid], error, max_attempts)
    return len(written)


def _write(
    conn: Conn,
    todo: Sequence[UUID],
    by_id: dict[UUID, feedback_store.ClaimedItem],
    results: dict[UUID, Analysis],
) -> None:
    """Write the analyses of ``todo``, their topics, complaints and events, and mark them done."""
    context = analyses_store.feedback_context(conn, todo)
    analyses_store.upsert_analyses(
        conn, [_row(fid, by_id[fid].tenant_id, results[fid]) for fid in todo]
    )
    # New items join the tenant's current topics in the same transaction.
    workers.topics.assign_analysed(
        conn,
        [
            (
                by_id[fid].tenant_id,
                fid,
                results[fid].language,
                by_id[fid].text,
                results[fid].embedding,
            )
            for fid in todo
        ],
    )
    per_tenant: dict[UUID, list[events_store.NewEvent]] = defaultdict(list)
    for fid in todo:
        per_tenant[by_id[fid].tenant_id].extend(events_for(fid, context[fid], results[fid]))
    flagged = flag_complaints(
        conn,
        [AnalysedItem(fid, by_id[fid].tenant_id, context[fid], results[fid]) for fid in todo],
    )
    for tenant_id, tenant_events in flagged.items():
        per_tenant[tenant_id].extend(tenant_events)
    # Customer profiles change with their items' analyses (and after their complaints).
    profiled = workers.customers.update_profiles(
        conn, [(by_id[fid].tenant_id, context[fid]["customer_ref"]) for fid in todo]
    )
    for tenant_id, tenant_events in profiled.items():
        per_tenant[tenant_id].extend(tenant_events)
    # A fixed lock order on tenant rows keeps concurrent workers from deadlocking.
    for tenant_id in sorted(per_tenant):
        events_store.append_events(conn, tenant_id, per_tenant[tenant_id])
    feedback_store.mark_done(conn, todo, [results[fid].language for fid in todo])


def _row(feedback_id: UUID, tenant_id: UUID, a: Analysis) -> analyses_store.AnalysisRow:
    return analyses_store.AnalysisRow(
        feedback_id=feedback_id,
        tenant_id=tenant_id,
        model_versions=a.model_versions,
        language=a.language,
        sentiment=a.sentiment,
        sentiment_score=a.sentiment_score,
        sentiment_probs=a.sentiment_probs,
        complaint=a.complaint,
        complaint_score=a.complaint_score,
        complaint_category=a.complaint_category,
        severity=a.severity,
        churn_risk=a.churn_risk,
        csat_distribution=a.csat_distribution,
        csat_expected=a.csat_expected,
        nps_class=a.nps_class,
        embedding=np.asarray(a.embedding, dtype="<f4").tobytes(),
        aspects=aspects_json(a),
    )
