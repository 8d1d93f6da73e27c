"""Refit one tenant's heads on its corrections; switch a head only when it scores better.

For each head (sentiment, complaint, category, churn risk, severity) the tenant's corrected
items are split by a fixed hash of the item id: one in five is held out. A candidate is
fitted on the rest (nlp.training.tenant_heads: logistic regression on the stored embeddings, the
shipped head as its prior) and scored on the held-out corrections beside the heads in
force (the tenant's active head, else the answers the shipped models stored). It is
switched in only when its macro-F1 is strictly higher; every candidate, switched or not,
is recorded with its figures (tenant_models), and the run with its summary.

Only the tenant's own rows are read: one tenant's corrections never reach another's heads.
A tenant with its own taxonomy gets no category head: its corrections join the
taxonomy's prototypes instead (workers.taxonomy).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np

from models import MODELS_DIR, load_manifest
from nlp.components.heads import LinearHead
from nlp.training.tenant_heads import fit_head, macro_f1, predict
from nlp.types import COMPLAINT_CATEGORIES
from store import corrections as corrections_store
from store import taxonomy as taxonomy_store
from store.db import Database
from workers.taxonomy import head_from_row

HELDOUT_BUCKETS = 5
MIN_TRAIN = 5
MIN_HELDOUT = 2


@dataclass(frozen=True)
class HeadSpec:
    """One trainable head: its classes and the shipped head it starts from (if any)."""

    name: str
    classes: tuple[str, ...]
    shipped: str | None


HEADS = (
    HeadSpec("sentiment", ("negative", "neutral", "positive"), "sentiment"),
    HeadSpec("complaint", ("no", "yes"), "complaint"),
    HeadSpec("category", COMPLAINT_CATEGORIES, "category"),
    HeadSpec("churn_risk", ("no", "yes"), None),
    HeadSpec("severity", ("low", "medium", "high", "critical"), None),
)


def is_heldout(feedback_id: UUID) -> bool:
    """Whether an item's corrections are held out for evaluation (fixed, by id hash)."""
    digest = hashlib.sha256(str(feedback_id).encode()).digest()
    return int.from_bytes(digest[:4], "big") % HELDOUT_BUCKETS == 0


def _label(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def shipped_head(name: str, models_dir: Path | None) -> LinearHead:
    """A shipped head, the prior of the tenant's refit."""
    manifest = load_manifest(models_dir)
    return LinearHead.load((models_dir or MODELS_DIR) / manifest["heads"][name]["path"])


def train_tenant(
    db: Database, tenant_id: UUID, models_dir: Path | None = None, trigger: str = "cli"
) -> dict[str, Any]:
    """Refit the tenant's heads on its corrections; returns the run's summary per head."""
    with db.transaction() as conn:
        rows = corrections_store.training_rows(conn, tenant_id)
        active = {m["head"]: m for m in corrections_store.active_models(conn, tenant_id)}
        has_taxonomy = taxonomy_store.get_taxonomy(conn, tenant_id) is not None
        run_id = corrections_store.start_run(
            conn, tenant_id, trigger, corrections_store.count_corrections(conn, tenant_id)
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    summary: dict[str, Any] = {}
    for spec in HEADS:
        if spec.name == "category" and has_taxonomy:
            summary[spec.name] = {"status": "skipped", "reason": "own taxonomy (prototypes)"}
            continue
        labelled = [
            (r, label)
            for r in rows
            if (label := _label(r[spec.name])) is not None and label in spec.classes
        ]
        train = [(r, y) for r, y in labelled if not is_heldout(r["feedback_id"])]
        held = [(r, y) for r, y in labelled if is_heldout(r["feedback_id"])]
        if len(train) < MIN_TRAIN or len(held) < MIN_HELDOUT or len({y for _, y in train}) < 2:
            summary[spec.name] = {
                "status": "skipped",
                "reason": f"needs >= {MIN_TRAIN} training rows with 2 labels and "
                f">= {MIN_HELDOUT} held out",
                "n_train": len(train),
                "n_heldout": len(held),
            }
            continue
        x_train = np.stack([np.frombuffer(r["embedding"], dtype="<f4") for r, _ in train])
        x_held = np.stack([np.frombuffer(r["embedding"], dtype="<f4") for r, _ in held])
        # A shipped head may also read n-grams; tenant heads see stored embeddings only.
        prior = (
            shipped_head(spec.shipped, models_dir).embedding_part(x_train.shape[1])
            if spec.shipped
            else None
        )
        candidate = fit_head(x_train, [y for _, y in train], spec.classes, prior)
        truth = [y for _, y in held]
        if spec.name in active:
            current = predict(head_from_row(active[spec.name]), x_held)
        else:
            current = [_label(r[f"model_{spec.name}"]) or "other" for r, _ in held]
        score_current = macro_f1(truth, current)
        score_candidate = macro_f1(truth, predict(candidate, x_held))
        switch = score_candidate > score_current
        version = f"tenant-{spec.name}-{stamp}"
        with db.transaction() as conn:
            corrections_store.record_model(
                conn,
                tenant_id,
                run_id,
                spec.name,
                version,
                spec.classes,
                candidate.dense_weights.astype("<f4").tobytes(),
                candidate.bias.astype("<f4").tobytes(),
                len(train),
                len(held),
                score_candidate,
                score_current,
                activate=switch,
            )
        summary[spec.name] = {
            "status": "switched" if switch else "kept",
            "version": version,
            "n_train": len(train),
            "n_heldout": len(held),
            "macro_f1_candidate": round(score_candidate, 4),
            "macro_f1_current": round(score_current, 4),
        }
    with db.transaction() as conn:
        corrections_store.finish_run(conn, run_id, summary)
    return {"run_id": str(run_id), "heads": summary}


def train_due_tenants(db: Database, min_new: int, models_dir: Path | None) -> int:
    """Train every tenant with at least ``min_new`` corrections since its last run."""
    with db.transaction() as conn:
        due = corrections_store.tenants_due_training(conn, min_new)
    for tenant_id in due:
        train_tenant(db, tenant_id, models_dir, trigger="schedule")
    return len(due)
