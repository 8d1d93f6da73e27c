"""The analysis pipeline: a batch of feedback in, one :class:`Analysis` per item out.

A list of named components over one document per item (spaCy's model): language id,
channel normalisation, the marks of unaccented Vietnamese restored, one encoder pass, the
cue phrases and hashed character n-grams, the trained heads (sentiment, complaint,
category, CSAT, churn, severity) and the aspects. Each component is one module in
:mod:`nlp.components` and one entry in :data:`COMPONENTS`; :data:`DEFAULT_COMPONENTS` is
the order the service runs them in. Heads are loaded from a models directory with a
manifest, and refuse to run on an encoder other than the one they were trained on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

from models import MODELS_DIR, load_manifest
from nlp.components.aspects import AspectModel, AspectsStep
from nlp.components.base import Component, Context, Doc
from nlp.components.category import CategoryStep
from nlp.components.churn import ChurnStep
from nlp.components.complaint import ComplaintStep
from nlp.components.csat import CsatStep, nps_class
from nlp.components.cues import CuesStep
from nlp.components.encode import EncodeStep, weighted_embeddings
from nlp.components.language import LanguageStep, item_language
from nlp.components.lexical import LexicalStep
from nlp.components.marks import MarkModel, MarksStep, restore_marks
from nlp.components.normalize import NormalizedText, NormalizeStep, normalize
from nlp.components.sentiment import SentimentStep
from nlp.components.severity import SeverityStep
from nlp.encoders.registry import Encoder, load_encoder
from nlp.types import Analysis, FeedbackText, Language

HEADS = ("sentiment", "complaint", "category", "csat")
"""The heads every models directory has; ``churn`` and ``severity`` are optional."""

COMPONENTS: dict[str, Callable[[Context], Component]] = {
    "language": lambda _context: LanguageStep(),
    "normalize": lambda _context: NormalizeStep(),
    "marks": MarksStep,
    "encode": lambda context: EncodeStep(context.encoder),
    "cues": lambda _context: CuesStep(),
    "lexical": LexicalStep,
    "sentiment": SentimentStep,
    "complaint": ComplaintStep,
    "category": CategoryStep,
    "csat": CsatStep,
    "churn": ChurnStep,
    "severity": SeverityStep,
    "aspects": AspectsStep,
}
DEFAULT_COMPONENTS = tuple(COMPONENTS)

__all__ = ["HEADS", "ModelMismatchError", "Pipeline", "nps_class", "prepare", "weighted_embeddings"]


class ModelMismatchError(RuntimeError):
    """The heads were trained on a different encoder than the one configured."""


def prepare(item: FeedbackText, marks: MarkModel | None = None) -> tuple[Language, NormalizedText]:
    """The item's language (the hint when it names a known one) and normalised text, with
    the marks of unaccented Vietnamese segments restored when a mark model is given."""
    language = item_language(item)
    text = normalize(item.text, item.channel, language)
    return language, restore_marks(text, language, marks) if marks is not None else text


class Pipeline:
    """Loaded components; :meth:`analyze` is safe to call from one thread at a time."""

    def __init__(
        self,
        encoder: Encoder | None = None,
        models_dir: Path | None = None,
        aspect_domain: str | None = None,
        components: Sequence[str] = DEFAULT_COMPONENTS,
    ) -> None:
        manifest = load_manifest(models_dir)
        self.models_dir = models_dir
        self.encoder: Encoder = encoder or load_encoder("auto")
        # An encoder may declare the ones whose heads it can use (the same weights in
        # another runtime, parity measured by eval/parity.py).
        accepted = (self.encoder.name, *getattr(self.encoder, "compatible_with", ()))
        if manifest["encoder"] not in accepted:
            raise ModelMismatchError(
                f"heads were trained on {manifest['encoder']!r} but the encoder is "
                f"{self.encoder.name!r}; retrain them with `langnghe train`"
            )
        unknown = [c for c in components if c not in COMPONENTS]
        if unknown:
            raise ValueError(f"unknown components {unknown}; choose from {list(COMPONENTS)}")
        context = Context(self.encoder, manifest, models_dir or MODELS_DIR, aspect_domain)
        self.context = context
        self.components = [COMPONENTS[name](context) for name in components]
        self.model_versions = {"encoder": self.encoder.name} | {
            c.name: c.version
            for c in self.components
            if c.version is not None and c.name != "encode"
        }

    def aspect_model(self, domain: str) -> AspectModel | None:
        """The aspect model of ``domain`` in the models directory, if it has one."""
        entry = self.context.manifest.get("aspects", {}).get(domain)
        return AspectModel.load(self.context.models_root / entry["path"]) if entry else None

    @property
    def aspect_versions(self) -> dict[str, str]:
        """Version of each aspect domain's model in the models directory."""
        return {d: e["version"] for d, e in self.context.manifest.get("aspects", {}).items()}

    def run(self, items: Sequence[FeedbackText]) -> list[Doc]:
        """The batch's documents after every component (with each head's probabilities)."""
        docs = [Doc(item) for item in items]
        if docs:
            for component in self.components:
                component(docs)
        return docs

    def analysis(self, doc: Doc) -> Analysis:
        """The :class:`Analysis` of a document that went through :meth:`run`."""
        return Analysis(**doc.out, model_versions=dict(self.model_versions))  # type: ignore[arg-type]

    def analyze(self, items: Sequence[FeedbackText]) -> list[Analysis]:
        """Analyse a batch; one :class:`Analysis` per item, in order."""
        return [self.analysis(doc) for doc in self.run(items)]


@lru_cache(maxsize=1)
def get_pipeline(aspect_domain: str | None = None) -> Pipeline:
    """The process-wide pipeline (shipped models and encoder), loaded on first use."""
    return Pipeline(aspect_domain=aspect_domain)


def analyze(items: Sequence[FeedbackText]) -> list[Analysis]:
    """Analyse a batch with the default pipeline."""
    return get_pipeline().analyze(items)
