"""Prometheus metrics: request counters from this process, queue figures from Postgres.

Queue lag, analysis latency and delivery failures are read from the database at
scrape time, so they are true for every worker without multiprocess plumbing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from store import analyses as analyses_store
from store import feedback as feedback_store
from store import usage as usage_store
from store import webhooks as webhooks_store
from store.db import Database

log = logging.getLogger(__name__)

FEEDBACK_ACCEPTED = Counter(
    "langnghe_feedback_accepted_total", "Feedback items accepted", ["channel"], registry=None
)
FEEDBACK_REJECTED = Counter(
    "langnghe_feedback_rejected_total", "Feedback requests rejected", ["reason"], registry=None
)
FEEDBACK_DUPLICATES = Counter(
    "langnghe_feedback_duplicates_total", "Posted items that were already stored", registry=None
)


class DatabaseCollector(Collector):
    """Figures that live in Postgres, read at each scrape."""

    def __init__(self, db: Database, latency_window_s: float = 300.0) -> None:
        self._db = db
        self._window = latency_window_s

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """Yield queue, latency and delivery metrics; nothing if the database is down."""
        try:
            with self._db.transaction() as conn:
                statuses = feedback_store.status_counts(conn)
                lag = feedback_store.oldest_unfinished_age_s(conn)
                latency = analyses_store.analysis_latency_quantiles(conn, self._window)
                deliveries = webhooks_store.delivery_counts(conn)
                failed_attempts = webhooks_store.failed_attempts_total(conn)
                ingested = usage_store.ingested_totals(conn)
        except Exception:
            log.warning("metrics: database unavailable", exc_info=True)
            return
        stored = CounterMetricFamily(
            "langnghe_feedback_ingested",
            "Items stored by every process (API and `langnghe ingest`), by channel and origin",
            labels=["channel", "origin"],
        )
        for (channel, origin), n in sorted(ingested.items()):
            stored.add_metric([channel, origin], n)
        yield stored
        items = GaugeMetricFamily("langnghe_feedback_items", "Items by status", labels=["status"])
        for status in ("pending", "processing", "done", "failed"):
            items.add_metric([status], statuses.get(status, 0))
        yield items
        yield GaugeMetricFamily(
            "langnghe_queue_lag_seconds", "Age of the oldest unanalysed item", value=lag
        )
        quantiles = GaugeMetricFamily(
            "langnghe_analysis_latency_seconds",
            f"Receipt-to-analysis time over the last {int(self._window)} s",
            labels=["quantile"],
        )
        for q, value in latency.items():
            quantiles.add_metric([q], value)
        yield quantiles
        by_status = GaugeMetricFamily(
            "langnghe_webhook_deliveries", "Webhook deliveries by status", labels=["status"]
        )
        for status in ("pending", "succeeded", "dead"):
            by_status.add_metric([status], deliveries.get(status, 0))
        yield by_status
        yield CounterMetricFamily(
            "langnghe_webhook_delivery_failures",
            "Delivery attempts that did not succeed",
            value=failed_attempts,
        )


def build_registry(db: Database) -> CollectorRegistry:
    """A registry with this process's counters and the database collector."""
    registry = CollectorRegistry()
    for metric in (FEEDBACK_ACCEPTED, FEEDBACK_REJECTED, FEEDBACK_DUPLICATES):
        registry.register(metric)
    registry.register(DatabaseCollector(db))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The registry in Prometheus text format."""
    return generate_latest(registry)
