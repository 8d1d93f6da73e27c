"""Component ``sentiment``: negative / neutral / positive with its probability."""

from __future__ import annotations

import numpy as np

from nlp.components.base import Context, Doc
from nlp.components.features import doc_features, head_features


class SentimentStep:
    """The sentiment head over the embedding."""

    name = "sentiment"

    def __init__(self, context: Context) -> None:
        head = context.head("sentiment")
        if head is None:
            raise ValueError("the models directory has no sentiment head")
        self.head = head
        self.version = context.head_entry("sentiment")["version"]
        self.blocks = head_features("sentiment", context.head_entry("sentiment"))

    def __call__(self, docs: list[Doc]) -> None:
        """Set sentiment, its score and probabilities."""
        probs = self.head.predict_proba(doc_features(docs, self.blocks))
        for doc, row in zip(docs, probs, strict=True):
            doc.probs["sentiment"] = row
            doc.out["sentiment"] = self.head.classes[int(np.argmax(row))]
            doc.out["sentiment_score"] = float(np.max(row))
            doc.out["sentiment_probs"] = {
                c: float(p) for c, p in zip(self.head.classes, row, strict=True)
            }
