"""Aspect-level sentiment: which aspects a text talks about, how, and where.

Aspect sets are domain-specific (a hotel's rooms and location, a phone's battery
and camera), so each domain has its own model: per aspect, a four-way linear
head (absent / negative / neutral / positive) over the e5 embedding, trained on
document-level labels. At serving time the text is split into sentences
(underthesea for Vietnamese) and clauses, each clause is encoded, and the heads
run on every clause, so each aspect comes back with the span that carries it.
An aspect the whole text implies but no single clause states falls back to the
whole text as its span.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from nlp.components.base import Context, Doc
from nlp.encoders.registry import Embeddings, Encoder
from nlp.types import AspectSentiment, Span

STATES = ("absent", "negative", "neutral", "positive")

# Clause boundaries inside a sentence: commas, semicolons and contrastive conjunctions.
_CLAUSE_BREAK = re.compile(
    r"\s*[,;]\s*|\s+(?=(?:nhưng|nhung|tuy nhiên|tuy nhien|còn|con|mà|but|however|although|"
    r"though|while|whereas)\b)",
    re.IGNORECASE,
)
_SENTENCE_BREAK = re.compile(r"(?<=[.!?…])\s+|\n+")


def _sentences(text: str, language: str) -> list[str]:
    if language in ("vi", "mixed"):
        from underthesea import sent_tokenize

        return [s for part in text.split("\n") for s in sent_tokenize(part) if s.strip()]
    return [s for s in _SENTENCE_BREAK.split(text) if s.strip()]


def split_clauses(text: str, language: str) -> list[Span]:
    """Sentences, then clauses, as spans of ``text`` (at least two words each)."""
    spans: list[Span] = []
    cursor = 0
    for sentence in _sentences(text, language):
        start = text.find(sentence, cursor)
        if start < 0:
            continue
        cursor = start + len(sentence)
        pieces: list[tuple[int, int]] = []
        last = 0
        for match in _CLAUSE_BREAK.finditer(sentence):
            pieces.append((last, match.start()))
            last = match.end()
        pieces.append((last, len(sentence)))
        for a, b in pieces:
            piece = sentence[a:b].strip()
            if len(piece.split()) < 2 and spans:
                # A one-word fragment ("ok", "đẹp") belongs to the clause before it.
                prev = spans[-1]
                end = start + b
                spans[-1] = Span(prev.start, end, text[prev.start : end])
                continue
            if piece:
                offset = start + a + sentence[a:b].find(piece)
                spans.append(Span(offset, offset + len(piece), piece))
    return spans or [Span(0, len(text), text)]


@dataclass(frozen=True)
class AspectModel:
    """Per-aspect four-way heads for one domain."""

    domain: str
    aspects: tuple[str, ...]
    weights: npt.NDArray[np.float32]
    """``(n_aspects, 4, dim)``"""
    bias: npt.NDArray[np.float32]
    """``(n_aspects, 4)``"""

    def predict_proba(self, embeddings: Embeddings) -> npt.NDArray[np.float32]:
        """``(n, n_aspects, 4)`` probabilities over :data:`STATES`."""
        logits = np.einsum("nd,asd->nas", embeddings, self.weights) + self.bias
        logits -= logits.max(axis=2, keepdims=True)
        exp = np.exp(logits)
        return (exp / exp.sum(axis=2, keepdims=True)).astype(np.float32)

    def document_aspects(self, embeddings: Embeddings) -> list[dict[str, str]]:
        """Per text, the aspects present and their polarity."""
        states = self.predict_proba(embeddings).argmax(axis=2)
        return [
            {a: STATES[s] for a, s in zip(self.aspects, row, strict=True) if s != 0}
            for row in states
        ]

    def analyze(
        self, encoder: Encoder, text: str, language: str, document: Embeddings
    ) -> tuple[AspectSentiment, ...]:
        """Aspects of one text with their spans; ``document`` is the text's own embedding."""
        clauses = split_clauses(text, language)
        clause_vectors = encoder.encode([c.text for c in clauses]) if len(clauses) > 1 else None
        found: dict[str, AspectSentiment] = {}
        if clause_vectors is not None:
            probs = self.predict_proba(clause_vectors)
            for clause, row in zip(clauses, probs, strict=True):
                for index, aspect in enumerate(self.aspects):
                    state = int(row[index].argmax())
                    score = float(row[index][state])
                    if state and (aspect not in found or score > found[aspect].score):
                        found[aspect] = AspectSentiment(aspect, STATES[state], score, clause)
        whole = Span(0, len(text), text)
        doc = self.predict_proba(document.reshape(1, -1))[0]
        for index, aspect in enumerate(self.aspects):
            state = int(doc[index].argmax())
            if state and aspect not in found:
                found[aspect] = AspectSentiment(
                    aspect, STATES[state], float(doc[index][state]), whole
                )
        return tuple(sorted(found.values(), key=lambda a: (a.span.start, a.aspect)))

    def save(self, path: Path) -> None:
        """Write the model to ``path`` (``.npz``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            path,
            domain=np.array(self.domain),
            aspects=np.array(self.aspects),
            weights=self.weights.astype(np.float32),
            bias=self.bias.astype(np.float32),
        )

    @classmethod
    def load(cls, path: Path) -> AspectModel:
        """Read a model written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            return cls(
                domain=str(data["domain"]),
                aspects=tuple(str(a) for a in data["aspects"]),
                weights=data["weights"].astype(np.float32),
                bias=data["bias"].astype(np.float32),
            )


class AspectsStep:
    """Component ``aspects``: aspect polarities with spans, when an aspect domain is set."""

    name = "aspects"

    def __init__(self, context: Context) -> None:
        entries = context.manifest.get("aspects", {})
        self.domain = context.aspect_domain
        self.encoder = context.encoder
        self.model: AspectModel | None = None
        self.version: str | None = None
        if self.domain is not None:
            if self.domain not in entries:
                raise ValueError(
                    f"no aspect model for domain {self.domain!r}; the models directory has "
                    f"{sorted(entries) or 'none'}"
                )
            self.model = AspectModel.load(context.models_root / entries[self.domain]["path"])
            self.version = entries[self.domain]["version"]

    def __call__(self, docs: list[Doc]) -> None:
        """Set each doc's aspects (spans index the text as given, not the normalised one)."""
        for doc in docs:
            if self.model is None or doc.embedding is None:
                doc.out["aspects"] = ()
                continue
            doc.out["aspects"] = self.model.analyze(
                self.encoder, doc.item.text, doc.language, doc.embedding
            )
