"""Component ``severity``: low / medium / high / critical.

A trained ordinal model over the embedding and the cue features; where the models
directory has none, the rule of :func:`nlp.components.cues.severity` (cues, complaint and
the negative probability).
"""

from __future__ import annotations

import numpy as np

from nlp.components.base import Context, Doc
from nlp.components.cues import severity
from nlp.components.features import doc_features, head_features


class SeverityStep:
    """Sets ``severity``."""

    name = "severity"

    def __init__(self, context: Context) -> None:
        self.head = context.head("severity")
        self.version = context.head_entry("severity").get("version", "cues")
        self.blocks = head_features("severity", context.head_entry("severity"))

    def __call__(self, docs: list[Doc]) -> None:
        """Set each doc's severity."""
        cues = [d.cues for d in docs]
        if any(c is None for c in cues):
            raise ValueError("the severity component needs the cues component before it")
        if self.head is None:
            for doc in docs:
                assert doc.cues is not None
                negative = float(doc.out.get("sentiment_probs", {}).get("negative", 0.0))
                doc.out["severity"] = severity(doc.cues, bool(doc.out.get("complaint")), negative)
            return
        for doc, row in zip(
            docs, self.head.predict_proba(doc_features(docs, self.blocks)), strict=True
        ):
            level = self.head.classes[int(np.argmax(row))]
            # A text that is no complaint is low, whatever its words: severity ranks problems.
            doc.out["severity"] = level if doc.out.get("complaint") else "low"
