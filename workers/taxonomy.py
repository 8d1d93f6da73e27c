"""A tenant's own models on top of the shipped ones: its taxonomy and its refitted heads.

``personalise`` runs after the pipeline's heads for every analysed batch. For a tenant
with heads refitted on its corrections (workers.tenant_training) they replace the shipped
heads' answers; for a tenant with its own taxonomy the complaint category comes from the
few-shot classifier (nlp.components.prototypes) over the item's embedding: its example texts plus
the items people corrected into a category. ``recategorize_job`` applies the current
taxonomy to stored analyses, and only when asked (``POST /v1/taxonomy/recategorize``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol
from uuid import UUID

import numpy as np
import numpy.typing as npt

from nlp.components.heads import LinearHead
from nlp.components.prototypes import PrototypeClassifier
from nlp.types import COMPLAINT_CATEGORIES, Analysis, FeedbackText
from store import corrections as corrections_store
from store import taxonomy as taxonomy_store
from store.db import Conn, Database

log = logging.getLogger(__name__)

PAGE = 500


class Embedder(Protocol):
    """The part of the pipeline used to embed example texts (workers.analysis.Analyzer)."""

    def analyze(self, items: Sequence[FeedbackText]) -> list[Analysis]:
        """One analysis per item, in order."""
        ...


def effective_categories(mode: str | None, own: Sequence[str]) -> list[str]:
    """The categories a tenant's items may carry: the default eight, its own, or both."""
    if mode is None or (mode == "replace" and not own):
        return list(COMPLAINT_CATEGORIES)
    if mode == "replace":
        return sorted(own)
    return [*COMPLAINT_CATEGORIES, *sorted(c for c in own if c not in COMPLAINT_CATEGORIES)]


def tenant_categories(conn: Conn, tenant_id: UUID) -> list[str]:
    """The tenant's effective categories, read from the database."""
    taxonomy = taxonomy_store.get_taxonomy(conn, tenant_id)
    own = [c["name"] for c in taxonomy_store.list_categories(conn, tenant_id)]
    return effective_categories(taxonomy["mode"] if taxonomy else None, own)


def head_from_row(row: Mapping[str, Any]) -> LinearHead:
    """A stored tenant head (float32 bytes) as a LinearHead."""
    classes = tuple(row["classes"])
    weights = np.frombuffer(row["weights"], dtype="<f4").reshape(len(classes), -1)
    return LinearHead(classes, weights.copy(), np.frombuffer(row["bias"], dtype="<f4").copy())


@dataclass(frozen=True)
class TenantModels:
    """What applies to one tenant's new analyses beyond the shipped heads."""

    taxonomy: PrototypeClassifier | None
    taxonomy_version: str | None
    open_set: bool
    heads: dict[str, LinearHead]
    head_versions: dict[str, str]

    @property
    def empty(self) -> bool:
        """Nothing to apply: the shipped heads' answers stand."""
        return self.taxonomy is None and not self.heads


_cache: dict[UUID, tuple[tuple[Any, ...], TenantModels]] = {}
_cache_lock = threading.Lock()


def _vectors(blobs: Sequence[bytes]) -> npt.NDArray[np.float32]:
    return np.stack([np.frombuffer(b, dtype="<f4") for b in blobs]).astype(np.float32)


def embed_missing_examples(db: Database, embedder: Embedder, tenant_id: UUID) -> int:
    """Embed the tenant's example texts that have no embedding yet; returns how many."""
    with db.transaction() as conn:
        todo = taxonomy_store.examples_to_embed(conn, tenant_id)
    if not todo:
        return 0
    analyses = embedder.analyze([FeedbackText(text=r["text"]) for r in todo])
    with db.transaction() as conn:
        taxonomy_store.set_example_embeddings(
            conn,
            [
                (r["id"], np.asarray(a.embedding, dtype="<f4").tobytes())
                for r, a in zip(todo, analyses, strict=True)
            ],
        )
    return len(todo)


def load_tenant_models(db: Database, embedder: Embedder, tenant_id: UUID) -> TenantModels:
    """The tenant's taxonomy classifier and heads, rebuilt only when something changed."""
    embed_missing_examples(db, embedder, tenant_id)
    with db.transaction() as conn:
        stamp = taxonomy_store.model_stamps(conn, [tenant_id])[tenant_id]["stamp"]
        taxonomy = taxonomy_store.get_taxonomy(conn, tenant_id)
        heads = corrections_store.active_models(conn, tenant_id)
        with _cache_lock:
            cached = _cache.get(tenant_id)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        classifier = None
        if taxonomy is not None:
            categories = tenant_categories(conn, tenant_id)
            members = [
                (r["category"], r["embedding"])
                for r in taxonomy_store.examples_for_model(conn, tenant_id)
                if r["embedding"]
            ] + [
                (r["category"], r["embedding"])
                for r in corrections_store.category_members(conn, tenant_id)
            ]
            members = [(c, e) for c, e in members if c in categories]
            own = {c["name"] for c in taxonomy_store.list_categories(conn, tenant_id)}
            if own and members:
                classifier = PrototypeClassifier.fit(
                    [c for c, _ in members],
                    _vectors([e for _, e in members]),
                    classes=categories,
                    open_set=taxonomy["mode"] == "extend",
                )
    models = TenantModels(
        taxonomy=classifier,
        taxonomy_version=f"tenant-v{taxonomy['version']}" if taxonomy else None,
        open_set=bool(taxonomy and taxonomy["mode"] == "extend"),
        heads={h["head"]: head_from_row(h) for h in heads},
        head_versions={h["head"]: h["version"] for h in heads},
    )
    with _cache_lock:
        _cache[tenant_id] = (stamp, models)
    return models


def categorise(
    models: TenantModels, embedding: npt.NDArray[np.float32], default: str | None
) -> str:
    """The tenant taxonomy's category for a complaint; ``default`` where an open set rejects."""
    assert models.taxonomy is not None
    best, _ = models.taxonomy.predict(embedding[None, :])[0]
    return best if best is not None else (default or "other")


def apply_models(models: TenantModels, analysis: Analysis) -> Analysis:
    """The analysis with the tenant's heads and taxonomy applied after the shipped heads."""
    if models.empty:
        return analysis
    x = np.asarray(analysis.embedding, dtype=np.float32)[None, :]
    changes: dict[str, Any] = {}
    versions = dict(analysis.model_versions)
    for name, head in models.heads.items():
        probs = head.predict_proba(x)[0]
        best = head.classes[int(np.argmax(probs))]
        versions[f"tenant_{name}"] = models.head_versions[name]
        if name == "sentiment":
            changes["sentiment"] = best
            changes["sentiment_score"] = float(np.max(probs))
            changes["sentiment_probs"] = {
                c: float(p) for c, p in zip(head.classes, probs, strict=True)
            }
        elif name == "complaint":
            score = float(probs[head.classes.index("yes")])
            changes["complaint"] = score >= 0.5
            changes["complaint_score"] = score
        elif name == "churn_risk":
            changes["churn_risk"] = best == "yes"
        elif name == "severity":
            changes["severity"] = best
    is_complaint = changes.get("complaint", analysis.complaint)
    category = analysis.complaint_category
    if not is_complaint:
        category = None
    elif models.taxonomy is not None:
        category = categorise(models, x[0], analysis.complaint_category)
        versions["taxonomy"] = str(models.taxonomy_version)
    elif "category" in models.heads:
        head = models.heads["category"]
        category = head.classes[int(np.argmax(head.predict_proba(x)[0]))]
    changes["complaint_category"] = (category or "other") if is_complaint else None
    return replace(analysis, model_versions=versions, **changes)


def _current_models(
    db: Database, embedder: Embedder, tenant_id: UUID, stamp: Mapping[str, Any] | None
) -> TenantModels:
    """The cached models when ``stamp`` (store.taxonomy.model_stamps) says they still hold."""
    if stamp is not None and not stamp["unembedded"]:
        with _cache_lock:
            cached = _cache.get(tenant_id)
        if cached is not None and cached[0] == stamp["stamp"]:
            return cached[1]
    return load_tenant_models(db, embedder, tenant_id)


def personalise(
    db: Database,
    embedder: Embedder,
    results: dict[UUID, Analysis],
    tenant_of: Mapping[UUID, UUID],
) -> dict[UUID, Analysis]:
    """Apply each tenant's own models to its items' analyses (unchanged for other tenants)."""
    out = dict(results)
    tenants = sorted({tenant_of[fid] for fid in results})
    # One query tells which tenants' cached models still hold, so a batch whose tenants
    # changed nothing costs one round trip rather than several per tenant.
    try:
        with db.transaction() as conn:
            stamps = taxonomy_store.model_stamps(conn, tenants)
    except Exception:
        # Each tenant's models are then loaded in full, each failure logged on its own.
        log.exception("tenant model stamps not read")
        stamps = {}
    for tenant_id in tenants:
        try:
            models = _current_models(db, embedder, tenant_id, stamps.get(tenant_id))
        except Exception:
            # The shipped heads' answers stand (model_versions shows no tenant model), rather
            # than one tenant's broken example holding up its analyses.
            log.exception("tenant models not applied", extra={"tenant_id": str(tenant_id)})
            continue
        if models.empty:
            continue
        for fid, analysis in results.items():
            if tenant_of[fid] == tenant_id:
                out[fid] = apply_models(models, analysis)
    return out


def recategorize_job(db: Database, embedder: Embedder, job_id: UUID) -> dict[str, Any] | None:
    """Re-categorise a tenant's stored complaint analyses with its current taxonomy.

    Pages through the analyses by id, committing each page with the job's progress, so a
    client polling the job sees it advance. Returns the finished job (None if it was not
    queued: already taken by another worker, or finished).
    """
    with db.transaction() as conn:
        tenant_id = taxonomy_store.job_tenant(conn, job_id)
    if tenant_id is None:
        return None
    try:
        models = load_tenant_models(db, embedder, tenant_id)
        with db.transaction() as conn:
            taxonomy = taxonomy_store.get_taxonomy(conn, tenant_id)
            total = taxonomy_store.count_complaint_analyses(conn, tenant_id)
            version = taxonomy["version"] if taxonomy else 0
            if not taxonomy_store.start_job(conn, job_id, version, total):
                return None
        after: UUID | None = None
        while True:
            with db.transaction() as conn:
                page = taxonomy_store.complaint_analyses_page(conn, tenant_id, after, PAGE)
                if not page:
                    break
                after = page[-1]["feedback_id"]
                changes = []
                if models.taxonomy is not None:
                    vectors = _vectors([r["embedding"] for r in page])
                    for row, vector in zip(page, vectors, strict=True):
                        new = categorise(models, vector, row["complaint_category"])
                        if new != row["complaint_category"]:
                            changes.append((row["feedback_id"], new))
                taxonomy_store.recategorize(conn, tenant_id, changes, str(models.taxonomy_version))
                taxonomy_store.advance_job(conn, job_id, len(page), len(changes))
        with db.transaction() as conn:
            taxonomy_store.finish_job(conn, job_id)
    except Exception as exc:
        log.exception("re-categorisation failed", extra={"job_id": str(job_id)})
        with db.transaction() as conn:
            taxonomy_store.finish_job(conn, job_id, f"{type(exc).__name__}: {exc}")
    with db.transaction() as conn:
        return taxonomy_store.get_job(conn, tenant_id, job_id)
