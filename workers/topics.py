"""Topic modelling glue: refit a tenant's topics, assign new items, raise emerging topics.

The fit itself is pure (nlp.topics.model); here it is fed from the store and its
result written back: stable ids by centroid matching, one transaction for the
topics and the assignments, and ``topic.emerging`` events through the outbox.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import numpy as np
import numpy.typing as npt

from langnghe.config import Settings
from nlp.topics import model as topic_model
from store import events as events_store
from store import topic_reports
from store import topics as topics_store
from store.db import Conn, Database
from workers.events import TOPIC_EMERGING
from workers.themes import GroupedTopic, regroup_themes

log = logging.getLogger(__name__)

STALE_FIT_S = 6 * 3600.0

Progress = Callable[[str, int, int], None]
"""Called with (stage, done, total) as a refit advances."""


class RefitError(RuntimeError):
    """A refit that cannot run (too few items, another refit running)."""


@dataclass(frozen=True)
class RefitResult:
    """What a refit did."""

    fit_id: UUID
    n_docs: int
    n_topics: int
    n_themes: int
    kept_ids: int
    new_ids: int
    outlier_share_before: float
    outlier_share: float
    emerging: int


def config_from(settings: Settings) -> topic_model.TopicConfig:
    """The fit's knobs from the settings."""
    return topic_model.TopicConfig(
        seed=settings.topics_seed,
        min_cluster_size=settings.topics_min_cluster_size,
        max_outlier_share=settings.topics_max_outlier_share,
        max_topics=settings.topics_max_topics,
        match_threshold=settings.topics_match_threshold,
        align=settings.topics_align,
    )


def refit_tenant(
    db: Database, tenant_id: UUID, settings: Settings, progress: Progress | None = None
) -> RefitResult:
    """Fit the tenant's topics on all its analysed items and store them with stable ids."""
    report = progress or (lambda _stage, _done, _total: None)
    config = config_from(settings)
    with db.transaction() as conn:
        if topics_store.running_fit(conn, tenant_id, STALE_FIT_S):
            raise RefitError("a refit of this tenant is already running")
        n = topics_store.count_analysed(conn, tenant_id)
        if n < settings.topics_min_docs:
            raise RefitError(
                f"{n} analysed items; at least {settings.topics_min_docs} are needed for topics"
            )
        fit_id = topics_store.start_fit(conn, tenant_id)
    try:
        result = _refit(db, tenant_id, fit_id, config, settings, report)
    except Exception as exc:
        with db.transaction() as conn:
            topics_store.fail_fit(conn, fit_id, f"{type(exc).__name__}: {exc}")
        raise
    return result


def _refit(
    db: Database,
    tenant_id: UUID,
    fit_id: UUID,
    config: topic_model.TopicConfig,
    settings: Settings,
    report: Progress,
) -> RefitResult:
    report("load", 0, 1)
    with db.transaction() as conn:
        corpus = topics_store.load_corpus(conn, tenant_id)
    n = len(corpus.ids)
    report("load", 1, 1)
    report("fit", 0, 1)
    fit = topic_model.fit_topics(
        corpus.texts,
        corpus.embeddings,
        corpus.languages,
        config,
        lambda stage: report(stage, 0, 1),
    )
    report("fit", 1, 1)
    report("write", 0, 1)
    with db.transaction() as conn:
        topics_store.tenant_lock(conn, tenant_id)
        previous = topics_store.topic_vectors(conn, tenant_id, active_only=False)
        matched = topic_model.match_topics(
            {t.id: t.centroid for t in previous}, fit.centroids, config.match_threshold
        )
        next_id = topics_store.next_topic_id(conn, tenant_id)
        stable: list[int] = []
        for old_id in matched:
            if old_id is None:
                stable.append(next_id)
                next_id += 1
            else:
                stable.append(old_id)
        sizes = fit.sizes()
        topics_store.save_topics(
            conn,
            tenant_id,
            [
                topics_store.FittedTopic(
                    id=stable[k],
                    keywords=fit.keywords[k],
                    auto_label=fit.topic_labels[k],
                    centroid=fit.centroids[k],
                    min_similarity=float(fit.min_similarity[k]),
                    size=sizes[k],
                )
                for k in range(fit.n_topics)
            ],
        )
        n_themes = regroup_themes(
            conn,
            tenant_id,
            [
                GroupedTopic(
                    stable[k],
                    fit.centroids[k],
                    sizes[k],
                    fit.keywords[k],
                    fit.topic_languages[k],
                )
                for k in range(fit.n_topics)
            ],
            fit.keyword_languages,
            settings.topics_theme_distance,
        )
        topic_ids = [stable[k] if k >= 0 else topic_model.OUTLIER for k in fit.labels.tolist()]
        topics_store.replace_assignments(
            conn, tenant_id, corpus.ids, topic_ids, fit.similarity.tolist()
        )
        topics_store.finish_fit(
            conn,
            fit_id,
            n_docs=n,
            n_topics=fit.n_topics,
            outlier_share_before=fit.outlier_share_before,
            outlier_share=fit.outlier_share,
            params=fit.params,
            language_means={k: v.tolist() for k, v in fit.language_means.items()},
        )
        # Items analysed while the fit ran lost their old assignment above.
        assign_unassigned(conn, tenant_id)
    report("write", 1, 1)
    emerging = detect_emerging(db, tenant_id, settings)
    kept = sum(1 for m in matched if m is not None)
    log.info(
        "topics refitted",
        extra={
            "tenant_id": str(tenant_id),
            "docs": n,
            "topics": fit.n_topics,
            "themes": n_themes,
            "kept_ids": kept,
        },
    )
    return RefitResult(
        fit_id=fit_id,
        n_docs=n,
        n_topics=fit.n_topics,
        n_themes=n_themes,
        kept_ids=kept,
        new_ids=fit.n_topics - kept,
        outlier_share_before=fit.outlier_share_before,
        outlier_share=fit.outlier_share,
        emerging=emerging,
    )


def assign_unassigned(conn: Conn, tenant_id: UUID) -> int:
    """Assign every analysed item of the tenant that has no topic yet; return how many."""
    ids, languages, texts, blobs = topics_store.unassigned(conn, tenant_id)
    if not ids:
        return 0
    groups = [topic_model.spelling_group(lang, t) for lang, t in zip(languages, texts, strict=True)]
    matrix = np.stack([topics_store.from_bytes(b) for b in blobs])
    assign_items(conn, tenant_id, ids, groups, matrix, locked=True)
    return len(ids)


def assign_items(
    conn: Conn,
    tenant_id: UUID,
    ids: Sequence[UUID],
    groups: Sequence[str],
    embeddings: npt.NDArray[np.float32],
    locked: bool = False,
) -> list[int]:
    """Assign analysed items to the tenant's current topics (nearest centroid).

    ``groups`` are the items' spelling groups (:func:`nlp.topics.model.spelling_group`),
    whose means the fit stored and subtracts here too.

    A no-op before the tenant's first fit. Runs in the caller's transaction, so
    the analysis and its topic are committed together.
    """
    if not ids:
        return []
    if not locked:
        topics_store.tenant_lock(conn, tenant_id, shared=True)
    current = topics_store.topic_vectors(conn, tenant_id, active_only=True)
    if not current:
        return []
    means = topics_store.language_means(conn, tenant_id)
    vectors = topic_model.center(embeddings, list(groups), means)
    labels, sims = topic_model.assign(
        vectors,
        [t.id for t in current],
        np.stack([t.centroid for t in current]),
        [t.min_similarity for t in current],
    )
    topics_store.upsert_assignments(conn, tenant_id, ids, labels, sims)
    return labels


def assign_analysed(
    conn: Conn, rows: Sequence[tuple[UUID, UUID, str, str, npt.NDArray[np.float32]]]
) -> None:
    """Assign freshly analysed items: (tenant id, feedback id, language, text, embedding)."""
    per_tenant: dict[UUID, list[tuple[UUID, str, npt.NDArray[np.float32]]]] = defaultdict(list)
    for tenant_id, feedback_id, language, text, embedding in rows:
        group = topic_model.spelling_group(language, text)
        per_tenant[tenant_id].append((feedback_id, group, embedding))
    for tenant_id in sorted(per_tenant):
        items = per_tenant[tenant_id]
        assign_items(
            conn,
            tenant_id,
            [i[0] for i in items],
            [i[1] for i in items],
            np.asarray([i[2] for i in items], np.float32),
        )


def _windows(
    rows: Sequence[dict[str, Any]], windows: int
) -> dict[int, tuple[list[int], list[int]]]:
    """Per topic: counts and negatives per window, oldest first (the current one last)."""
    series: dict[int, tuple[list[int], list[int]]] = {}
    for row in rows:
        win = int(row["win"])
        if not 0 <= win < windows:
            continue
        counts, negatives = series.setdefault(int(row["topic_id"]), ([0] * windows, [0] * windows))
        counts[windows - 1 - win] += int(row["n"])
        negatives[windows - 1 - win] += int(row["negative"])
    return series


def detect_emerging(
    db: Database, tenant_id: UUID, settings: Settings, now: datetime | None = None
) -> int:
    """Emit ``topic.emerging`` for topics whose latest window jumps over their baseline.

    A topic/kind pair alerts at most once per window length, so an hourly check
    during one spike raises one event.
    """
    now = now or datetime.now(UTC)
    days = settings.topics_emerging_window_days
    windows = settings.topics_emerging_baseline_windows + 1
    emitted = 0
    with db.transaction() as conn:
        rows = topic_reports.window_counts(conn, tenant_id, now, days, windows)
        topics = {t["id"]: t for t in topics_store.list_topics(conn, tenant_id)}
        events: list[events_store.NewEvent] = []
        for topic_id, (counts, negatives) in sorted(_windows(rows, windows).items()):
            topic = topics.get(topic_id)
            if topic is None or topic["is_noise"]:
                continue
            for found in topic_model.detect_emerging(
                counts,
                negatives,
                z=settings.topics_emerging_z,
                min_count=settings.topics_emerging_min_count,
            ):
                if topics_store.recent_alert(conn, tenant_id, topic_id, found.kind, days * 86400.0):
                    continue
                start = now - timedelta(days=days)
                topics_store.record_alert(
                    conn,
                    tenant_id,
                    topic_id,
                    kind=found.kind,
                    window_start=start,
                    window_end=now,
                    current=found.current,
                    baseline_mean=found.baseline_mean,
                    baseline_sd=found.baseline_sd,
                )
                events.append(
                    events_store.NewEvent(
                        TOPIC_EMERGING,
                        {
                            "topic_id": topic_id,
                            "label": topic["name"],
                            "keywords": [w for w, _ in topic["keywords"][:10]],
                            "kind": found.kind,
                            "window_start": start.isoformat(),
                            "window_end": now.isoformat(),
                            "window_days": days,
                            "current": found.current,
                            "count": found.count,
                            "baseline_mean": found.baseline_mean,
                            "baseline_sd": found.baseline_sd,
                            "baseline_windows": counts[:-1],
                        },
                    )
                )
        events_store.append_events(conn, tenant_id, events)
        emitted = len(events)
    return emitted
