"""Component ``category``: what a complaint is about, with secondary categories."""

from __future__ import annotations

import numpy as np

from nlp.components.base import Context, Doc
from nlp.components.features import doc_features, head_features

SECONDARY_MIN = 0.25
"""A category other than the first is reported as secondary from this probability on."""


class CategoryStep:
    """The category head; only complaints get a category."""

    name = "category"

    def __init__(self, context: Context) -> None:
        head = context.head("category")
        if head is None:
            raise ValueError("the models directory has no category head")
        self.head = head
        self.version = context.head_entry("category")["version"]
        self.blocks = head_features("category", context.head_entry("category"))

    def __call__(self, docs: list[Doc]) -> None:
        """Set the category and the category scores of complaints (None and {} otherwise)."""
        for doc, row in zip(
            docs, self.head.predict_proba(doc_features(docs, self.blocks)), strict=True
        ):
            doc.probs["category"] = row
            complaint = bool(doc.out.get("complaint"))
            order = np.argsort(-row)
            doc.out["complaint_category"] = self.head.classes[int(order[0])] if complaint else None
            doc.out["category_scores"] = (
                {
                    self.head.classes[int(i)]: round(float(row[i]), 4)
                    for k, i in enumerate(order)
                    if k == 0 or row[i] >= SECONDARY_MIN
                }
                if complaint
                else {}
            )
