"""The document the pipeline's components share, and what a component is.

Like spaCy's pipeline: the pipeline makes one :class:`Doc` per feedback item and passes the
batch through its components in order; each reads what earlier ones wrote and adds its own
part (the language, the normalised text, the embedding, a head's probabilities, the fields
of the :class:`~nlp.types.Analysis`). Components work on the whole batch so the encoder runs
once per batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix

from nlp.types import FeedbackText, Language

if TYPE_CHECKING:  # component modules import this one: only names here, no cycle
    from nlp.components.cues import Cues
    from nlp.components.heads import LinearHead
    from nlp.components.normalize import NormalizedText
    from nlp.encoders.registry import Encoder

Vector = npt.NDArray[np.float32]


@dataclass
class Doc:
    """One feedback item on its way through the pipeline."""

    item: FeedbackText
    language: Language = "other"
    text: NormalizedText | None = None
    embedding: Vector | None = None
    cues: Cues | None = None
    lexical: csr_matrix | None = None
    """One row of hashed character n-grams (component ``lexical``)."""
    probs: dict[str, Vector] = field(default_factory=dict)
    """Each head's class probabilities, by head name."""
    out: dict[str, Any] = field(default_factory=dict)
    """The :class:`~nlp.types.Analysis` fields written so far."""
    versions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    """What components are built from: the encoder and the trained models."""

    encoder: Encoder
    manifest: dict[str, Any]
    models_root: Path
    aspect_domain: str | None = None

    def head(self, name: str) -> LinearHead | None:
        """The trained head ``name`` of the manifest, or None when the manifest has none."""
        from nlp.components.heads import load_head

        entry = self.manifest.get("heads", {}).get(name)
        return load_head(self.models_root / entry["path"]) if entry else None

    def head_entry(self, name: str) -> dict[str, Any]:
        """The manifest entry of head ``name`` (empty when absent)."""
        entry: dict[str, Any] = self.manifest.get("heads", {}).get(name) or {}
        return entry


class Component(Protocol):
    """One step of the pipeline: reads and writes the docs of a batch."""

    @property
    def name(self) -> str:
        """The component's name in the pipeline's configuration."""
        ...

    @property
    def version(self) -> str | None:
        """Recorded in each analysis's ``model_versions`` when not None."""
        ...

    def __call__(self, docs: list[Doc]) -> None:
        """Process a batch in place."""
        ...


def stacked(docs: list[Doc]) -> Vector:
    """The batch's embeddings as one matrix."""
    return np.stack([d.embedding for d in docs if d.embedding is not None]).astype(np.float32)
