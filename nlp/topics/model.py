"""Topic modelling over stored embeddings: BERTopic with a Vietnamese-aware vectorizer.

Pure computation, no database: the worker loads a tenant's texts and the e5
embeddings the analysis already stored, and this module

- segments each text for keywords (underthesea joins Vietnamese multi-syllable
  words with ``_``, so "nhân_viên" is one word, not two syllables), dropping
  Vietnamese and English stop words, punctuation and numbers;
- centres the embeddings per language: multilingual-e5-small places a
  Vietnamese and an English text on the same subject further apart than two
  Vietnamese texts on different subjects; subtracting each language's mean
  vector removes most of that language signal (Libovický et al., 2020), so
  "giao hàng chậm" and "late delivery" land in one topic;
- fits BERTopic (seeded UMAP, HDBSCAN, c-TF-IDF keywords) on those
  embeddings, never re-embedding;
- moves the outliers closest to a topic into it until at most
  ``max_outlier_share`` of the documents stay in -1;
- matches new topics to the previous fit's by centroid similarity, so topic ids
  stay stable across refits;
- assigns new documents to the current topics by nearest centroid; and
- flags topics whose latest window jumps above their own trailing baseline.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
Progress = Callable[[str], None]

DATA_DIR = Path(__file__).parent / "data"
OUTLIER = -1

_HAS_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
# Vietnamese letters outside ASCII: a text with one of them is segmented by underthesea.
_VI_CHARS = re.compile(r"[àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ]")
_SIMPLE_TOKEN = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)


@dataclass(frozen=True)
class TopicConfig:
    """The knobs of a fit; the defaults suit a few hundred to a few hundred thousand items."""

    seed: int = 42
    min_cluster_size: int | None = None
    """HDBSCAN's smallest topic; None: max(5, sqrt(n)/2), so topics stay readable as n grows."""
    max_outlier_share: float = 0.2
    """At most this share of documents stays in the outlier topic -1 after reduction."""
    max_topics: int | None = None
    """Merge the most similar topics (BERTopic's c-TF-IDF ``reduce_topics``) down to this many."""
    n_neighbors: int = 15
    n_components: int = 5
    top_n_words: int = 10
    match_threshold: float = 0.8
    """Cosine similarity of centroids above which a new topic keeps an old topic's id."""
    assign_quantile: float = 0.05
    """A new item joins a topic if it is at least as close as this quantile of its members."""
    align: str = "mean"
    """How languages are aligned before clustering: "mean" subtracts each language's mean."""


# --------------------------------------------------------------------------- segmentation


def _read_words(path: Path) -> frozenset[str]:
    words = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        word = line.split("#", 1)[0].strip().lower()
        if word:
            words.add(unicodedata.normalize("NFC", word))
    return frozenset(words)


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """Vietnamese and English stop words from ``nlp/topics/data`` (lower-case, NFC)."""
    return _read_words(DATA_DIR / "stopwords_vi.txt") | _read_words(DATA_DIR / "stopwords_en.txt")


def _vi_tokens(text: str) -> list[str]:
    from underthesea import word_tokenize

    return [token.replace(" ", "_") for token in word_tokenize(text)]


def segment(text: str, language: str | None = None) -> str:
    """The words of ``text`` for keyword extraction, joined by spaces.

    Vietnamese (or any text with Vietnamese letters) goes through underthesea's
    word segmentation, whose multi-syllable words are joined with ``_``; English
    is split on word characters. Lower-cased; stop words, punctuation and
    numbers are dropped.
    """
    text = unicodedata.normalize("NFC", text).lower()
    vietnamese = language in ("vi", "mixed") or bool(_VI_CHARS.search(text))
    tokens = _vi_tokens(text) if vietnamese else _SIMPLE_TOKEN.findall(text)
    stops = stop_words()
    kept = []
    for token in tokens:
        token = token.strip("'’-_")
        if token and _HAS_LETTER.search(token) and token not in stops:
            kept.append(token)
    return " ".join(kept)


def display_word(word: str) -> str:
    """A keyword as a person reads it: ``nhân_viên`` becomes ``nhân viên``."""
    return word.replace("_", " ")


def make_vectorizer(min_df: int = 1) -> Any:
    """A CountVectorizer over pre-segmented text: whitespace tokens, unigrams and bigrams.

    Texts are segmented once by :func:`segment`, so the vectorizer only splits on
    spaces; c-TF-IDF runs it over one concatenated document per topic.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(
        tokenizer=str.split,
        token_pattern=None,
        lowercase=False,
        ngram_range=(1, 2),
        min_df=min_df,
        max_features=50_000,
    )


# --------------------------------------------------------------------------- fitting


@dataclass
class TopicFit:
    """The outcome of a fit: a topic per document and, per topic, its keywords and centroid.

    Topics are numbered 0..k-1 by size (BERTopic's order); -1 marks outliers.
    """

    labels: npt.NDArray[np.int64]
    similarity: npt.NDArray[np.float32]
    """Cosine similarity of each document to its topic's centroid (outliers: the nearest)."""
    keywords: list[list[tuple[str, float]]]
    centroids: Vectors
    min_similarity: npt.NDArray[np.float32]
    """Per topic: how close a new item must be to join it (see ``assign_quantile``)."""
    outlier_share_before: float
    outlier_share: float
    language_means: dict[str, Vectors] = field(default_factory=dict)
    """The per-language mean embeddings that were subtracted (see :func:`center`)."""
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def n_topics(self) -> int:
        """How many topics (without -1)."""
        return int(self.centroids.shape[0])

    def sizes(self) -> list[int]:
        """Documents per topic."""
        return [int((self.labels == t).sum()) for t in range(self.n_topics)]


def auto_min_cluster_size(n_docs: int) -> int:
    """HDBSCAN's smallest cluster for ``n_docs``: grows like the square root."""
    return max(5, int(math.sqrt(n_docs) / 2))


def _unit(vectors: npt.NDArray[Any]) -> Vectors:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def centroids_of(
    embeddings: Vectors, labels: npt.NDArray[np.int64], n_topics: int
) -> tuple[Vectors, npt.NDArray[np.float32]]:
    """Unit mean embedding per topic, and each document's similarity to its own centroid."""
    embeddings = _unit(embeddings)
    centroids = np.zeros((n_topics, embeddings.shape[1]), np.float32)
    for topic in range(n_topics):
        members = labels == topic
        if members.any():
            centroids[topic] = embeddings[members].mean(axis=0)
    centroids = _unit(centroids)
    sims = embeddings @ centroids.T if n_topics else np.zeros((len(labels), 0), np.float32)
    own = np.full(len(labels), -1.0, np.float32)
    inside = labels >= 0
    own[inside] = sims[np.flatnonzero(inside), labels[inside]]
    if n_topics:
        own[~inside] = sims[~inside].max(axis=1)
    return centroids, own


MIN_LANGUAGE_DOCS = 5


def language_means(embeddings: Vectors, languages: Sequence[str]) -> dict[str, Vectors]:
    """Mean unit embedding per language with enough documents, and ``""`` for all of them."""
    embeddings = _unit(embeddings)
    means: dict[str, Vectors] = {"": embeddings.mean(axis=0).astype(np.float32)}
    codes = np.asarray(languages, dtype=object)
    for language in sorted(set(languages)):
        members = codes == language
        if language and members.sum() >= MIN_LANGUAGE_DOCS:
            means[language] = embeddings[members].mean(axis=0).astype(np.float32)
    return means


def center(
    embeddings: Vectors, languages: Sequence[str] | None, means: Mapping[str, Vectors]
) -> Vectors:
    """Subtract each document's language mean, then renormalise.

    A language without its own mean (too few documents) uses the overall mean;
    with no means at all the embeddings are only normalised.
    """
    embeddings = _unit(embeddings)
    if not means:
        return embeddings
    overall = means.get("")
    out = embeddings.copy()
    for row, language in enumerate(languages or [""] * len(embeddings)):
        mean = means.get(language, overall)
        if mean is not None:
            out[row] -= mean
    return _unit(out)


def reduce_outliers(
    embeddings: Vectors, labels: npt.NDArray[np.int64], centroids: Vectors, max_share: float
) -> npt.NDArray[np.int64]:
    """Move the outliers nearest to a topic centroid into it until at most ``max_share`` stay.

    BERTopic's own ``reduce_outliers(strategy="embeddings")`` takes a similarity
    threshold; a share is what an analyst asks for, so the threshold is chosen
    here as the similarity that leaves exactly that share behind.
    """
    labels = labels.copy()
    outliers = np.flatnonzero(labels == OUTLIER)
    allowed = math.floor(max_share * len(labels))
    if len(outliers) <= allowed or centroids.shape[0] == 0:
        return labels
    sims = _unit(embeddings[outliers]) @ centroids.T
    best = sims.argmax(axis=1)
    best_sim = sims[np.arange(len(outliers)), best]
    order = np.argsort(-best_sim, kind="stable")
    moved = order[: len(outliers) - allowed]
    labels[outliers[moved]] = best[moved]
    return labels


def fit_topics(
    docs: Sequence[str],
    embeddings: Vectors,
    languages: Sequence[str] | None = None,
    config: TopicConfig | None = None,
    progress: Progress | None = None,
) -> TopicFit:
    """Fit BERTopic on segmented ``docs`` (see :func:`segment`) and their stored embeddings.

    ``languages`` (one code per document) turns on per-language centring.
    Deterministic for a seed: UMAP is seeded (which also makes it single-threaded)
    and HDBSCAN is deterministic given its input.
    """
    from bertopic import BERTopic
    from hdbscan import HDBSCAN
    from umap import UMAP

    config = config or TopicConfig()
    say = progress or (lambda _stage: None)
    n = len(docs)
    if n != len(embeddings):
        raise ValueError("docs and embeddings differ in length")
    if n < 10:
        raise ValueError("at least 10 documents are needed to fit topics")
    means = language_means(embeddings, languages) if languages is not None else {}
    embeddings = center(embeddings, languages, means)
    min_cluster = config.min_cluster_size or auto_min_cluster_size(n)
    params: dict[str, Any] = {
        "seed": config.seed,
        "min_cluster_size": min_cluster,
        "min_samples": max(2, min_cluster // 4),
        "n_neighbors": min(config.n_neighbors, n - 1),
        "n_components": config.n_components,
        "max_outlier_share": config.max_outlier_share,
        "max_topics": config.max_topics,
    }
    umap_model = UMAP(
        n_neighbors=params["n_neighbors"],
        n_components=config.n_components,
        min_dist=0.0,
        metric="cosine",
        random_state=config.seed,
        n_jobs=1,  # a seed makes UMAP single-threaded anyway; saying so avoids its warning
        low_memory=True,
    )
    hdbscan_model = HDBSCAN(
        min_cluster_size=min_cluster,
        min_samples=params["min_samples"],
        metric="euclidean",
        cluster_selection_method="eom",
        prediction_data=False,
    )
    model = BERTopic(
        language="multilingual",
        embedding_model=None,
        umap_model=umap_model,
        hdbscan_model=hdbscan_model,
        vectorizer_model=make_vectorizer(),
        top_n_words=config.top_n_words,
        calculate_probabilities=False,
    )
    say("cluster")
    raw = np.asarray(model.fit_transform(list(docs), embeddings=embeddings)[0], dtype=np.int64)
    if config.max_topics is not None and int(raw.max()) + 1 > config.max_topics:
        say("reduce topics")
        # BERTopic counts the outlier topic -1 among nr_topics when there is one.
        outliers = int((raw == OUTLIER).any())
        model.reduce_topics(list(docs), nr_topics=config.max_topics + outliers)
        raw = np.asarray(model.topics_, dtype=np.int64)
    n_topics = int(raw.max()) + 1 if len(raw) else 0
    before = float((raw == OUTLIER).mean())
    centroids, _ = centroids_of(embeddings, raw, n_topics)
    say("reduce outliers")
    labels = reduce_outliers(embeddings, raw, centroids, config.max_outlier_share)
    if n_topics and not np.array_equal(labels, raw):
        say("keywords")
        model.update_topics(list(docs), topics=labels.tolist(), vectorizer_model=make_vectorizer())
    centroids, own = centroids_of(embeddings, labels, n_topics)
    keywords = []
    for topic in range(n_topics):
        words = model.get_topic(topic) or []
        keywords.append([(str(w), float(s)) for w, s in words if w])
    min_sim = np.zeros(n_topics, np.float32)
    for topic in range(n_topics):
        member = own[labels == topic]
        min_sim[topic] = float(np.quantile(member, config.assign_quantile)) if len(member) else 1.0
    return TopicFit(
        labels=labels,
        similarity=own,
        keywords=keywords,
        centroids=centroids,
        min_similarity=min_sim,
        outlier_share_before=before,
        outlier_share=float((labels == OUTLIER).mean()),
        language_means=means,
        params=params,
    )


def auto_label(keywords: Sequence[tuple[str, float]] | Sequence[Sequence[Any]], n: int = 4) -> str:
    """A readable default label from the top keywords: ``giao hàng · chậm · shipper``."""
    shown: list[str] = []
    for entry in keywords:
        word = display_word(str(entry[0]))
        # A bigram that repeats words already shown adds nothing to the label.
        if any(word in s or s in word for s in shown):
            continue
        shown.append(word)
        if len(shown) == n:
            break
    return " · ".join(shown) or "(no keywords)"


# --------------------------------------------------------------------------- ids and assignment


def match_topics(
    old: Mapping[int, Vectors | npt.NDArray[Any]], new_centroids: Vectors, threshold: float
) -> list[int | None]:
    """For each new centroid, the id of the old topic it continues, or None for a new topic.

    One-to-one (Hungarian assignment on cosine similarity), and only pairs at or
    above ``threshold`` count, so a split or a genuinely new topic gets a new id.
    """
    from scipy.optimize import linear_sum_assignment

    result: list[int | None] = [None] * len(new_centroids)
    if not old or not len(new_centroids):
        return result
    old_ids = list(old)
    old_matrix = _unit(np.stack([np.asarray(old[i], np.float32) for i in old_ids]))
    sims = _unit(new_centroids) @ old_matrix.T
    rows, cols = linear_sum_assignment(-sims)
    for r, c in zip(rows, cols, strict=True):
        if sims[r, c] >= threshold:
            result[int(r)] = old_ids[int(c)]
    return result


def assign(
    embeddings: Vectors,
    topic_ids: Sequence[int],
    centroids: Vectors,
    min_similarity: Sequence[float],
) -> tuple[list[int], list[float]]:
    """The nearest topic for each embedding, or -1 if it is farther than that topic allows."""
    if not len(topic_ids) or not len(embeddings):
        return [OUTLIER] * len(embeddings), [0.0] * len(embeddings)
    sims = _unit(embeddings) @ _unit(centroids).T
    best = sims.argmax(axis=1)
    labels: list[int] = []
    scores: list[float] = []
    for row, col in enumerate(best):
        score = float(sims[row, col])
        labels.append(int(topic_ids[col]) if score >= min_similarity[col] else OUTLIER)
        scores.append(score)
    return labels, scores


# --------------------------------------------------------------------------- emerging topics


@dataclass(frozen=True)
class Emergence:
    """Why a topic counts as emerging in the latest window."""

    kind: str  # "volume" or "negative_share"
    current: float
    baseline_mean: float
    baseline_sd: float
    count: int


def detect_emerging(
    counts: Sequence[int],
    negatives: Sequence[int],
    *,
    z: float = 2.0,
    min_count: int = 10,
    min_baseline_windows: int = 3,
) -> list[Emergence]:
    """Compare the last window with the trailing ones before it.

    ``counts`` and ``negatives`` are per window, oldest first, the last being the
    current one. Volume is emerging when it exceeds the baseline mean by ``z``
    standard deviations; the negative share likewise. The deviation is floored
    (at the Poisson spread for counts, at 5 points for shares) so a flat baseline
    does not make every small wobble an alert, and the current window needs at
    least ``min_count`` items (negative items, for the share test).
    """
    if len(counts) != len(negatives):
        raise ValueError("counts and negatives differ in length")
    if len(counts) < min_baseline_windows + 1:
        return []
    base = np.asarray(counts[:-1], np.float64)
    base_neg = np.asarray(negatives[:-1], np.float64)
    current, current_neg = int(counts[-1]), int(negatives[-1])
    found: list[Emergence] = []
    mean, sd = float(base.mean()), float(base.std())
    sd_floor = max(sd, math.sqrt(max(mean, 1.0)))
    if current >= min_count and current > mean + z * sd_floor:
        found.append(Emergence("volume", float(current), mean, sd, current))
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(base > 0, base_neg / np.maximum(base, 1), np.nan)
    shares = shares[~np.isnan(shares)]
    if current_neg >= min_count and len(shares) >= min_baseline_windows:
        share = current_neg / current
        s_mean, s_sd = float(shares.mean()), float(shares.std())
        if share > s_mean + z * max(s_sd, 0.05):
            found.append(Emergence("negative_share", share, s_mean, s_sd, current))
    return found
