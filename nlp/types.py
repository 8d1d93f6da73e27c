"""The data that crosses the boundary of the nlp package.

Everything here is plain data so that workers can persist it without knowing
how it was computed, and tests can build it without loading a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

Channel = Literal["review", "email", "social", "call_transcript", "survey"]
CHANNELS: tuple[Channel, ...] = ("review", "email", "social", "call_transcript", "survey")

Language = Literal["vi", "en", "mixed", "other"]
Sentiment = Literal["negative", "neutral", "positive"]
Severity = Literal["low", "medium", "high", "critical"]
NpsClass = Literal["detractor", "passive", "promoter"]

COMPLAINT_CATEGORIES: tuple[str, ...] = (
    "delivery",
    "product_quality",
    "price_billing",
    "staff_attitude",
    "support_responsiveness",
    "app_website",
    "refund_return",
    "other",
)


@dataclass(frozen=True)
class FeedbackText:
    """One piece of feedback as the pipeline sees it.

    ``rating`` is the customer's own 1-5 score when the source gave one; it is
    kept as a label beside the text, never mixed into it.
    """

    text: str
    channel: Channel = "review"
    rating: float | None = None
    language_hint: str | None = None


@dataclass(frozen=True)
class Span:
    """A piece of a text: ``text == source[start:end]``."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class AspectSentiment:
    """One aspect's polarity, its probability and the span that carries it."""

    aspect: str
    polarity: str
    score: float
    span: Span


@dataclass(frozen=True)
class Analysis:
    """Everything the pipeline infers about one feedback item."""

    language: Language
    normalized_text: str
    sentiment: Sentiment
    sentiment_score: float
    sentiment_probs: dict[str, float]
    complaint: bool
    complaint_score: float
    complaint_category: str | None
    severity: Severity
    churn_risk: bool
    csat_distribution: tuple[float, float, float, float, float]
    csat_expected: float
    nps_class: NpsClass
    embedding: npt.NDArray[np.float32]
    model_versions: dict[str, str] = field(default_factory=dict)
    aspects: tuple[AspectSentiment, ...] = ()
    """Empty unless the pipeline was given an aspect domain."""
    category_scores: dict[str, float] = field(default_factory=dict)
    """A complaint's category and any secondary ones (probability 0.25 or more), by score."""
    churn_score: float = 0.0
    """The churn head's probability (1.0 / 0.0 from the cues where no head is trained)."""
