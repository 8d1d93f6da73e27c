"""Component ``churn``: whether the customer says or implies they will leave.

A trained classifier over the embedding and the cue features (:mod:`nlp.components.cues`),
with the decision threshold chosen on the dev split; where the models directory has no
churn head (heads trained on data without churn labels), the cue list decides alone.
"""

from __future__ import annotations

from nlp.components.base import Context, Doc
from nlp.components.features import doc_features, head_features


class ChurnStep:
    """Sets ``churn_risk`` and ``churn_score``."""

    name = "churn"

    def __init__(self, context: Context) -> None:
        self.head = context.head("churn")
        entry = context.head_entry("churn")
        self.version = entry.get("version", "cues")
        self.threshold = float(entry.get("threshold", 0.5))
        self.blocks = head_features("churn", entry)

    def __call__(self, docs: list[Doc]) -> None:
        """Set churn risk from the head (or the cues) of each doc."""
        cues = [d.cues for d in docs]
        if any(c is None for c in cues):
            raise ValueError("the churn component needs the cues component before it")
        if self.head is None:
            for doc in docs:
                assert doc.cues is not None
                doc.out["churn_risk"] = doc.cues.churn_risk
                doc.out["churn_score"] = float(doc.cues.churn_risk)
            return
        yes = self.head.classes.index("yes")
        for doc, row in zip(
            docs, self.head.predict_proba(doc_features(docs, self.blocks)), strict=True
        ):
            doc.out["churn_score"] = float(row[yes])
            doc.out["churn_risk"] = float(row[yes]) >= self.threshold
