"""A scripted analyzer: the outcome is written in the text, so store-level tests are exact.

It stands in for the nlp pipeline only (a pure function); Postgres stays real.
Words in the text set fields: ``complaint`` (score 0.8), ``angry`` (score 0.95),
``sev=<level>``, ``churn``, ``neg``/``pos``, ``cat=<category>``, ``stars=<1-5>``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nlp.types import Analysis, FeedbackText


def scripted(text: str) -> Analysis:
    """The analysis the words of ``text`` describe."""
    words = text.split()
    fields = dict(w.split("=", 1) for w in words if "=" in w)
    score = 0.95 if "angry" in words else 0.8 if "complaint" in words else 0.1
    sentiment = (
        "negative" if "neg" in words or score > 0.5 else "positive" if "pos" in words else "neutral"
    )
    stars = int(fields.get("stars", "2" if sentiment == "negative" else "4"))
    distribution = [0.025] * 5
    distribution[stars - 1] = 0.9
    return Analysis(
        language="vi" if "vi" in words else "en",
        normalized_text=text,
        sentiment=sentiment,  # type: ignore[arg-type]
        sentiment_score=0.9,
        sentiment_probs={"negative": 0.05, "neutral": 0.05, "positive": 0.9},
        complaint=score >= 0.5,
        complaint_score=score,
        complaint_category=fields.get("cat", "delivery") if score >= 0.5 else None,
        severity=fields.get("sev", "medium" if score >= 0.5 else "low"),  # type: ignore[arg-type]
        churn_risk="churn" in words,
        csat_distribution=tuple(distribution),  # type: ignore[arg-type]
        csat_expected=float(stars),
        nps_class="promoter" if stars == 5 else "passive" if stars == 4 else "detractor",
        embedding=np.zeros(384, dtype=np.float32),
        model_versions={"scripted": "1"},
    )


class ScriptedAnalyzer:
    """Implements workers.analysis.Analyzer from the words of each text."""

    def analyze(self, items: Sequence[FeedbackText]) -> list[Analysis]:
        """One scripted analysis per item."""
        return [scripted(i.text) for i in items]
