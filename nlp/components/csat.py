"""Component ``csat``: the star rating the customer would give, and the NPS class it implies."""

from __future__ import annotations

from nlp.components.base import Context, Doc
from nlp.components.features import doc_features, head_features
from nlp.types import NpsClass


def nps_class(csat_expected: float) -> NpsClass:
    """NPS class implied by an expected CSAT on 1-5.

    A provisional mapping until a head learns NPS from survey data: a 0-10
    likelihood-to-recommend of 9-10 corresponds to 4.5+ stars, 7-8 to 3.5-4.5.
    """
    if csat_expected >= 4.5:
        return "promoter"
    if csat_expected >= 3.5:
        return "passive"
    return "detractor"


class CsatStep:
    """The CSAT head: a 1-5 distribution, its expected value and the NPS class."""

    name = "csat"

    def __init__(self, context: Context) -> None:
        head = context.head("csat")
        if head is None:
            raise ValueError("the models directory has no csat head")
        self.head = head
        self.version = context.head_entry("csat")["version"]
        self.blocks = head_features("csat", context.head_entry("csat"))
        self.stars = [int(c) for c in head.classes]

    def __call__(self, docs: list[Doc]) -> None:
        """Set the CSAT distribution, expected stars and NPS class."""
        for doc, row in zip(
            docs, self.head.predict_proba(doc_features(docs, self.blocks)), strict=True
        ):
            distribution = [0.0] * 5
            for star, probability in zip(self.stars, row, strict=True):
                distribution[star - 1] = float(probability)
            expected = float(sum((k + 1) * p for k, p in enumerate(distribution)))
            doc.out["csat_distribution"] = tuple(distribution)
            doc.out["csat_expected"] = expected
            doc.out["nps_class"] = nps_class(expected)
