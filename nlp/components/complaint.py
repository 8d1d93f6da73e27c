"""Component ``complaint``: whether the text reports a problem."""

from __future__ import annotations

from nlp.components.base import Context, Doc
from nlp.components.features import doc_features, head_features

COMPLAINT_THRESHOLD = 0.5


class ComplaintStep:
    """The complaint head over the embedding; a complaint at probability 0.5 or more."""

    name = "complaint"

    def __init__(self, context: Context) -> None:
        head = context.head("complaint")
        if head is None:
            raise ValueError("the models directory has no complaint head")
        self.head = head
        self.version = context.head_entry("complaint")["version"]
        self.blocks = head_features("complaint", context.head_entry("complaint"))

    def __call__(self, docs: list[Doc]) -> None:
        """Set complaint and its score."""
        yes = self.head.classes.index("yes")
        for doc, row in zip(
            docs, self.head.predict_proba(doc_features(docs, self.blocks)), strict=True
        ):
            doc.probs["complaint"] = row
            doc.out["complaint_score"] = float(row[yes])
            doc.out["complaint"] = float(row[yes]) >= COMPLAINT_THRESHOLD
