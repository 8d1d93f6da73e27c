"""Topic modelling over stored embeddings: BERTopic with a Vietnamese-aware vectorizer.

Pure computation, no database: the worker loads a tenant's texts and the e5
embeddings the analysis already stored, and this module

- segments each text for keywords (underthesea joins Vietnamese multi-syllable
  words with ``_``, so "nhân_viên" is one word, not two syllables), dropping
  Vietnamese and English stop words, punctuation and numbers;
- aligns the embeddings across languages and spellings: multilingual-e5-small
  places a Vietnamese and an English text on the same subject further apart than
  two Vietnamese texts on different subjects; subtracting each language's mean
  vector removes most of that language signal (Libovický et al., 2020), and UMAP's
  neighbour graph is balanced across the groups (or, with ``align="procrustes"``,
  each group is rotated onto the largest by orthogonal Procrustes on mutual nearest
  neighbours), so "giao hàng chậm" and "late delivery" land in one topic;
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

import itertools
import math
import re
import unicodedata
import warnings
from collections import Counter, defaultdict
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
    """HDBSCAN's smallest topic; None: see :func:`auto_min_cluster_size`."""
    max_outlier_share: float = 0.2
    """At most this share of documents stays in the outlier topic -1 after reduction."""
    max_topics: int | None = None
    """Merge the most similar topics (BERTopic's c-TF-IDF ``reduce_topics``) down to this many."""
    n_neighbors: int = 30
    """UMAP's neighbours per document when the fit sees one spelling group (or aligns by
    "procrustes"); with ``align="graph"`` and several groups see ``neighbours_per_group``."""
    neighbours_per_group: int | None = 3
    """With ``align="graph"`` and two or more spelling groups, the neighbours each document
    takes from every group (None: ``n_neighbors`` split evenly). Few and balanced: with 9
    per group (30 split three ways) the cross-language links reach into neighbouring
    subjects; with 3, on the synthetic corpus, ARI 0.675 → 0.739 at 2k and 0.46 → 0.64 at
    10k, every bilingual subject in one topic and about one topic per subject
    (eval/TOPICS.md). One group keeps ``n_neighbors``: there fewer cost ARI."""
    n_components: int = 5
    top_n_words: int = 10
    match_threshold: float = 0.8
    """Cosine similarity of centroids above which a new topic keeps an old topic's id."""
    assign_quantile: float = 0.05
    """A new item joins a topic if it is at least as close as this quantile of its members."""
    align: str = "graph"
    """How spellings are aligned before clustering (see :func:`fit_topics`): "graph" (the
    default) centres each spelling group and gives UMAP a neighbour graph balanced across
    the groups; "procrustes" centres each group, rotates it onto the largest one
    (:func:`procrustes_transforms`), runs UMAP on the exact nearest neighbours of the
    aligned embeddings and lets a left-over outlier join its nearest topic when it is as
    close as that topic's members (more subjects joined across languages, a lower ARI
    with per-item embeddings: eval/TOPICS.md); "mean" only centres (the oldest method,
    kept to measure against)."""
    fit_sample: int = 10_000
    """UMAP and HDBSCAN run on a seeded sample of at most this many documents; the rest
    join the nearest topic centroid, so a 100k-item refit costs about what a 10k one does."""


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


BOUNDARY = "|"
"""Stands, in segmented text, where a stop word, number or punctuation was dropped."""
_EN_TOKEN = re.compile(r"[^\W\d_][\w'’-]*|\S", re.UNICODE)


def segment(text: str, language: str | None = None) -> str:
    """The words of ``text`` for keyword extraction, joined by spaces.

    Vietnamese (or any text with Vietnamese letters) goes through underthesea's
    word segmentation, whose multi-syllable words are joined with ``_``; English
    is split on word characters. Lower-cased; stop words, punctuation and
    numbers are dropped, and where they were a ``|`` is left, so a phrase is never
    made of two words that were not next to each other ("đặt 3 ngày" gives no
    "đặt ngày").
    """
    text = unicodedata.normalize("NFC", text).lower()
    vietnamese = language in ("vi", "mixed") or bool(_VI_CHARS.search(text))
    tokens = _vi_tokens(text) if vietnamese else _EN_TOKEN.findall(text)
    stops = stop_words()
    kept: list[str] = []
    for token in tokens:
        token = token.strip("'’-_")
        if token and _HAS_LETTER.search(token) and token not in stops:
            kept.append(token)
        elif kept and kept[-1] != BOUNDARY:
            kept.append(BOUNDARY)
    while kept and kept[-1] == BOUNDARY:
        kept.pop()
    return " ".join(kept)


def display_word(word: str) -> str:
    """A keyword as a person reads it: ``nhân_viên`` becomes ``nhân viên``."""
    return word.replace("_", " ")


def phrases(segmented: str) -> list[str]:
    """Candidate keyphrases of a segmented text: its words and pairs of adjacent words.

    Shown as a person reads them (``nhân_viên`` as "nhân viên"), so "giao_hàng" from an
    accented text and "giao" + "hàng" from a restored unaccented one count as one phrase.
    Pairs never cross a :data:`BOUNDARY`.
    """
    out: list[str] = []
    for run in segmented.split(BOUNDARY):
        words = [display_word(w) for w in run.split()]
        out.extend(words)
        out.extend(f"{a} {b}" for a, b in itertools.pairwise(words))
    return out


def make_vectorizer(min_df: int = 1) -> Any:
    """A CountVectorizer over segmented text whose terms are :func:`phrases`.

    Texts are segmented once by :func:`segment`; c-TF-IDF runs it over one
    concatenated document per topic (a topic's documents joined by spaces, so the
    phrase function must not pair the last word of one with the first of the next:
    BERTopic joins with " ", and every segmented text is followed by a boundary, see
    :func:`fit_topics`).
    """
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(analyzer=phrases, min_df=min_df, max_features=50_000)


def restore_accents(docs: Sequence[str], vietnamese: Sequence[bool]) -> list[str]:
    """Segmented Vietnamese texts with each unaccented word in its most frequent accented
    spelling seen in ``docs``.

    People type "giao hang cham" on phones; as keywords "hang" or "dat" are ambiguous
    (hàng, hãng, hang; đặt, đất, đạt). A word (or, failing that, each syllable of it)
    typed without diacritics becomes the spelling the corpus's accented texts use most
    for the same letters; words with a syllable those texts never use, and English
    texts, are left alone.
    """
    from nlp.text import strip_diacritics

    # Spellings are learnt from texts typed with diacritics, where a word without marks
    # ("sai", "giao") is spelt that way on purpose; only texts typed without any are
    # restored.
    plain = [vi and strip_diacritics(doc) == doc for doc, vi in zip(docs, vietnamese, strict=True)]
    words: dict[str, Counter[str]] = defaultdict(Counter)
    syllables: dict[str, Counter[str]] = defaultdict(Counter)
    for doc, vi, typed_plain in zip(docs, vietnamese, plain, strict=True):
        if not vi or typed_plain:
            continue
        for word in doc.split():
            if word == BOUNDARY:
                continue
            words[strip_diacritics(word)][word] += 1
            for syllable in word.split("_"):
                syllables[strip_diacritics(syllable)][syllable] += 1

    def restored(word: str) -> str:
        if word == BOUNDARY:
            return word
        if word in words:
            return words[word].most_common(1)[0][0]
        parts = word.split("_")
        if not all(p in syllables for p in parts):
            return word  # half a word restored ("nhận_duoc") reads worse than none
        return "_".join(syllables[p].most_common(1)[0][0] for p in parts)

    return [
        " ".join(restored(w) for w in doc.split()) if typed_plain else doc
        for doc, typed_plain in zip(docs, plain, strict=True)
    ]


def _syllables(phrase: str) -> frozenset[str]:
    from nlp.text import strip_diacritics

    return frozenset(strip_diacritics(phrase).split())


def diverse_keywords(
    candidates: Sequence[tuple[str, float]], n: int, diversity: float = 0.5
) -> list[tuple[str, float]]:
    """Maximal marginal relevance over c-TF-IDF candidates: ``n`` phrases, near-duplicates out.

    Each pick maximises ``(1 - diversity) * weight - diversity * overlap`` where weight is
    the candidate's c-TF-IDF score over the best one and overlap is the largest
    Jaccard similarity of its syllables (diacritics ignored) to a phrase already picked;
    so "giao hàng", "giao hàng chậm" and "giao hang" do not all make the list.
    A candidate whose syllables repeat a picked phrase exactly is never taken.
    """
    pool = [(w, float(s)) for w, s in candidates if w]
    if not pool:
        return []
    top = max(s for _, s in pool) or 1.0
    picked: list[tuple[str, float]] = []
    sets: list[frozenset[str]] = []
    while pool and len(picked) < n:
        best, best_score = -1, -math.inf
        for index, (word, weight) in enumerate(pool):
            mine = _syllables(word)
            if mine in sets:
                continue
            overlap = max((len(mine & o) / len(mine | o) for o in sets), default=0.0)
            score = (1 - diversity) * weight / top - diversity * overlap
            if score > best_score:
                best, best_score = index, score
        if best < 0:
            break
        word, weight = pool.pop(best)
        picked.append((word, weight))
        sets.append(_syllables(word))
    return picked


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
    topic_labels: list[str]
    """Per topic: a short label in the language of most of its items, the other beside it."""
    centroids: Vectors
    min_similarity: npt.NDArray[np.float32]
    """Per topic: how close a new item must be to join it (see ``assign_quantile``)."""
    outlier_share_before: float
    outlier_share: float
    language_means: dict[str, Vectors] = field(default_factory=dict)
    """The per-group mean embeddings that were subtracted and, keyed ``transform:<group>``,
    the rotations applied after (see :func:`center`); new items need both."""
    params: dict[str, Any] = field(default_factory=dict)
    topic_languages: list[str] = field(default_factory=list)
    """Per topic: "vi" or "en", the language of most of its items (its label's first half)."""
    keyword_languages: dict[str, str] = field(default_factory=dict)
    """The language ("vi" or "en") of every keyword of every topic, for theme names."""

    @property
    def n_topics(self) -> int:
        """How many topics (without -1)."""
        return int(self.centroids.shape[0])

    def sizes(self) -> list[int]:
        """Documents per topic."""
        return [int((self.labels == t).sum()) for t in range(self.n_topics)]


def auto_min_cluster_size(n_docs: int) -> int:
    """HDBSCAN's smallest cluster for ``n_docs`` fitted documents: 2% of them, at least 10.

    A share rather than the square root: with √n/2 a 100k corpus split its 14
    generated subjects into 149 topics. The fit sees at most ``fit_sample``
    documents, so the smallest topic found is about 2% of the corpus at any size.
    """
    return max(10, round(n_docs / 50))


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


ALIGNMENTS = ("graph", "procrustes", "mean")
"""The values of :attr:`TopicConfig.align`."""
MIN_LANGUAGE_DOCS = 5
PLAIN = ":plain"
"""Suffix of the spelling group of Vietnamese typed without diacritics ("vi:plain")."""


def spelling_group(language: str | None, text: str) -> str:
    """The group whose mean is subtracted: the language, and for Vietnamese typed without
    any diacritic, ``vi:plain``.

    Even the diacritics-blind encoder places unaccented Vietnamese apart from accented
    (on the synthetic corpus the nearest accented item of an unaccented one is on the
    same subject 48% of the time after language centring, 76% after group centring).
    """
    language = language or ""
    if language == "vi" and not _VI_CHARS.search(unicodedata.normalize("NFC", text).lower()):
        return language + PLAIN
    return language


def _base_group(group: str) -> str:
    return group.removesuffix(PLAIN)


def language_means(embeddings: Vectors, groups: Sequence[str]) -> dict[str, Vectors]:
    """Mean unit embedding per group with enough documents, and ``""`` for all of them."""
    embeddings = _unit(embeddings)
    means: dict[str, Vectors] = {"": embeddings.mean(axis=0).astype(np.float32)}
    codes = np.asarray(groups, dtype=object)
    for group in sorted(set(groups)):
        members = codes == group
        if group and members.sum() >= MIN_LANGUAGE_DOCS:
            means[group] = embeddings[members].mean(axis=0).astype(np.float32)
    return means


def _key_for(group: str, means: Mapping[str, Vectors]) -> str | None:
    """The group whose mean a document uses: its own, else its language's (``vi`` for
    ``vi:plain``), else the overall ``""``; None without means."""
    for key in (group, _base_group(group), ""):
        if key in means:
            return key
    return None


TRANSFORM = "transform:"
"""Prefix of a group's rotation (:func:`procrustes_transforms`) among the stored means."""
MIN_TRANSFORM_DOCS = 50
"""Fewest documents of a group for its rotation to be fitted (see below)."""


def procrustes_transforms(
    embeddings: Vectors, groups: Sequence[str], means: Mapping[str, Vectors], rounds: int = 3
) -> dict[str, Vectors]:
    """Per group with enough documents, an orthogonal rotation of its centred embeddings
    onto those of the largest group (orthogonal Procrustes on mutual nearest neighbours).

    Centring removes where a language sits, not how it is turned: a subject's English
    items are still nearer other English items. There are no translated pairs among a
    tenant's texts, so the pairs are found as in unsupervised word-vector alignment
    (Conneau et al., 2018): documents of the two groups that are each other's nearest
    neighbour; the rotation that best maps one onto the other (``U V^T`` of the SVD of
    their cross-product) is fitted, and the pairs are found again in the rotated space,
    ``rounds`` times. A rotation keeps every distance within a group, so it cannot merge
    two subjects of one language; it only turns the group towards the others. Keyed
    ``transform:<group>``; the largest group gets none (it is the reference).
    """
    x = center(embeddings, groups, {k: v for k, v in means.items() if TRANSFORM not in k})
    codes = np.asarray(groups, dtype=object)
    sizes = {g: int((codes == g).sum()) for g in set(groups) if g in means}
    if len(sizes) < 2:
        return {}
    reference = max(sizes, key=lambda g: (sizes[g], g))
    target = x[codes == reference]
    out: dict[str, Vectors] = {}
    for group in sorted(sizes):
        if group == reference or sizes[group] < MIN_TRANSFORM_DOCS:
            continue
        source = x[codes == group]
        rotation = np.eye(x.shape[1], dtype=np.float32)
        for _ in range(rounds):
            sims = _unit(source @ rotation) @ target.T
            nearest = sims.argmax(axis=1)
            mutual = np.flatnonzero(sims.argmax(axis=0)[nearest] == np.arange(len(source)))
            if len(mutual) < MIN_LANGUAGE_DOCS:
                break
            cross = source[mutual].T @ target[nearest[mutual]]
            # A few hundred pairs span only part of the 384 dimensions; the SVD would turn
            # the rest arbitrarily. A little identity added leaves those where they are.
            cross += 0.01 * np.linalg.norm(cross, 2) * np.eye(len(cross), dtype=cross.dtype)
            u, _, vt = np.linalg.svd(cross)
            rotation = (u @ vt).astype(np.float32)
        out[TRANSFORM + group] = rotation
    return out


def center(
    embeddings: Vectors, groups: Sequence[str] | None, means: Mapping[str, Vectors]
) -> Vectors:
    """Subtract each document's group mean (see :func:`spelling_group`), apply the group's
    rotation where the fit stored one (:func:`procrustes_transforms`), renormalise.

    A group without its own mean (too few documents) uses its language's, then the
    overall mean, and that group's rotation; with no means at all the embeddings are only
    normalised. The same function aligns the fit's documents and every new one.
    """
    embeddings = _unit(embeddings)
    if not means:
        return embeddings
    out = embeddings.copy()
    keys = [_key_for(g, means) for g in (groups or [""] * len(embeddings))]
    for key in set(keys):
        if key is None:
            continue
        rows = np.flatnonzero(np.asarray([k == key for k in keys]))
        shifted = out[rows] - means[key]
        transform = means.get(TRANSFORM + key)
        out[rows] = shifted if transform is None else shifted @ transform
    return _unit(out)


def balanced_neighbours(
    embeddings: Vectors,
    groups: Sequence[str],
    n_neighbors: int,
    block: int = 1024,
    per_group: int | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """A cosine k-nearest-neighbour graph with the same number of neighbours from each group.

    Plain nearest neighbours mostly stay within a language even after centring, so
    UMAP draws each language as its own islands and HDBSCAN splits every subject by
    language. Taking ``n_neighbors / groups`` neighbours from every spelling group
    makes each document's neighbourhood cross the languages, and the subjects shared
    across languages become one island (on the synthetic 2k corpus the subjects found
    in one topic holding both languages go from 36% to over 90%). With ``per_group``
    and two or more groups, every group lends that many instead (one group lends
    ``n_neighbors - 1``). Returned in UMAP's
    ``precomputed_knn`` form: indices and cosine distances, each row sorted, the
    document itself first. Computed in row blocks so memory stays at ``block x n``.
    """
    x = _unit(embeddings)
    codes = np.asarray(groups, dtype=object)
    sizes = {g: int((codes == g).sum()) for g in set(groups)}
    # A group too small to lend every document its share of neighbours (a handful of
    # "mixed" items) is searched together with the largest group instead.
    floor = max(MIN_LANGUAGE_DOCS, n_neighbors, int(0.02 * len(codes)))
    largest = max(sizes, key=lambda g: (sizes[g], g))
    names = sorted(g for g in sizes if sizes[g] >= floor or g == largest)
    folded = np.asarray([g if g in names else largest for g in codes.tolist()], dtype=object)
    per = max(2, (n_neighbors - 1) // len(names))
    if per_group is not None and len(names) > 1:
        per = per_group
    columns = [np.flatnonzero(folded == g) for g in names]
    width = 1 + sum(min(per, len(c) - 1) for c in columns)
    n = len(x)
    indices = np.zeros((n, width), np.int64)
    distances = np.zeros((n, width), np.float32)
    for start in range(0, n, block):
        rows = np.arange(start, min(n, start + block))
        sims = x[rows] @ x.T
        sims[np.arange(len(rows)), rows] = -np.inf  # oneself comes first, added below
        parts_i, parts_d = [rows[:, None]], [np.zeros((len(rows), 1), np.float32)]
        for cols in columns:
            take = min(per, len(cols) - 1)
            sub = sims[:, cols]
            top = np.argpartition(-sub, take - 1, axis=1)[:, :take]
            parts_i.append(cols[top])
            parts_d.append(1.0 - np.take_along_axis(sub, top, axis=1))
        block_i, block_d = np.hstack(parts_i), np.hstack(parts_d)
        order = np.argsort(block_d, axis=1, kind="stable")
        indices[rows] = np.take_along_axis(block_i, order, axis=1)
        distances[rows] = np.maximum(np.take_along_axis(block_d, order, axis=1), 0.0)
    return indices, distances


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


def join_close_outliers(
    embeddings: Vectors,
    labels: npt.NDArray[np.int64],
    centroids: Vectors,
    min_similarity: npt.NDArray[np.float32],
) -> npt.NDArray[np.int64]:
    """Move each outlier into its nearest topic when it is at least as close as that
    topic's ``min_similarity`` (the bar :func:`assign` sets for a new item)."""
    labels = labels.copy()
    outliers = np.flatnonzero(labels == OUTLIER)
    if not len(outliers) or centroids.shape[0] == 0:
        return labels
    sims = _unit(embeddings[outliers]) @ centroids.T
    best = sims.argmax(axis=1)
    close = sims[np.arange(len(outliers)), best] >= min_similarity[best]
    labels[outliers[close]] = best[close]
    return labels


def fit_sample(n_docs: int, size: int, seed: int) -> npt.NDArray[np.int64]:
    """The documents a fit clusters: all of them up to ``size``, else a seeded sample, sorted."""
    if n_docs <= size:
        return np.arange(n_docs, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_docs, size=size, replace=False)).astype(np.int64)


def fit_topics(
    texts: Sequence[str],
    embeddings: Vectors,
    languages: Sequence[str] | None = None,
    config: TopicConfig | None = None,
    progress: Progress | None = None,
    groups: Sequence[str] | None = None,
) -> TopicFit:
    """Fit BERTopic on ``texts`` and their stored embeddings; every document gets a topic or -1.

    ``groups`` (one spelling group per document, see :func:`spelling_group`; by default
    derived from ``languages`` and the texts) turns on per-group centring; with
    ``config.align == "procrustes"`` each group is also rotated onto the largest
    (:func:`procrustes_transforms`, stored in ``language_means``) and UMAP runs on the
    exact nearest neighbours; with "graph" on a neighbour graph balanced across the
    groups instead (:func:`balanced_neighbours`). Only a seeded sample of at most
    ``config.fit_sample`` documents is segmented and clustered; every other document
    joins its nearest topic centroid (or -1 when it is farther than the topic's
    members, see ``assign_quantile``), and then the outliers nearest a topic are moved
    into it until at most ``max_outlier_share`` of all documents stay in -1 (with
    "procrustes", any outlier as close as a topic's members then joins it too).
    Deterministic for a seed: UMAP is seeded (which also makes it single-threaded),
    the sample is seeded, and HDBSCAN is deterministic given its input.
    """
    from bertopic import BERTopic
    from hdbscan import HDBSCAN
    from umap import UMAP

    config = config or TopicConfig()
    say = progress or (lambda _stage: None)
    n = len(texts)
    if n != len(embeddings):
        raise ValueError("texts and embeddings differ in length")
    if n < 10:
        raise ValueError("at least 10 documents are needed to fit topics")
    if config.align not in ALIGNMENTS:
        raise ValueError(f"unknown alignment {config.align!r}: use one of {ALIGNMENTS}")
    if groups is None and languages is not None:
        groups = [spelling_group(lang, t) for lang, t in zip(languages, texts, strict=True)]
    means = language_means(embeddings, groups) if groups is not None else {}
    sample = fit_sample(n, config.fit_sample, config.seed)
    if config.align == "procrustes" and groups is not None:
        say("align")
        # Fitted on the fit's sample: the pair search is quadratic in the group sizes.
        picked = sample.tolist()
        means.update(procrustes_transforms(embeddings[sample], [groups[i] for i in picked], means))
    embeddings = center(embeddings, groups, means)
    m = len(sample)
    sampled = embeddings[sample]
    min_cluster = config.min_cluster_size or auto_min_cluster_size(m)
    params: dict[str, Any] = {
        "seed": config.seed,
        "align": config.align,
        "fit_docs": m,
        "min_cluster_size": min_cluster,
        "min_samples": max(5, min_cluster // 4),
        "n_components": config.n_components,
        "max_outlier_share": config.max_outlier_share,
        "max_topics": config.max_topics,
    }
    umap_options: dict[str, Any] = {}
    # A small corpus cannot lend 30 neighbours per document without every topic
    # touching every other: UMAP then draws one blob.
    neighbours = min(config.n_neighbors, max(15, m // 20), m - 1)
    if config.align in ("graph", "procrustes") and groups is not None:
        say("neighbours")
        # Aligned, the groups need no balancing: one group gives the plain exact
        # neighbours, which a blocked product finds faster than UMAP's approximate search
        # (numba-compiled on first use, minutes on a busy 2-core machine at 10k items).
        balanced = config.align == "graph"
        sample_groups = [groups[i] if balanced else "" for i in sample.tolist()]
        knn = balanced_neighbours(
            sampled, sample_groups, neighbours, per_group=config.neighbours_per_group
        )
        neighbours = knn[0].shape[1]
        umap_options["precomputed_knn"] = (knn[0], knn[1], None)
    params["n_neighbors"] = neighbours
    params["neighbours_per_group"] = config.neighbours_per_group
    umap_model = UMAP(
        n_neighbors=neighbours,
        n_components=config.n_components,
        min_dist=0.0,
        metric="cosine",
        random_state=config.seed,
        n_jobs=1,  # a seed makes UMAP single-threaded anyway; saying so avoids its warning
        low_memory=True,
        **umap_options,
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
        # Three candidates per keyword wanted: MMR then drops the near-duplicates.
        top_n_words=3 * config.top_n_words,
        calculate_probabilities=False,
    )
    say("segment")
    sample_languages = [languages[i] if languages is not None else "" for i in sample.tolist()]
    vietnamese = [lang in ("vi", "mixed") for lang in sample_languages]
    segmented = [
        segment(texts[i], lang or None) for i, lang in zip(sample, sample_languages, strict=True)
    ]
    # A trailing boundary: BERTopic joins a topic's documents with spaces before
    # counting, and a phrase must not run from one document into the next.
    docs = [f"{doc} {BOUNDARY}" for doc in restore_accents(segmented, vietnamese)]
    del segmented
    say("cluster")
    with warnings.catch_warnings():
        # A precomputed graph has no search index: UMAP warns that it cannot transform
        # new data, which the fit never asks of it (new items join by centroid).
        warnings.filterwarnings("ignore", message="precomputed_knn", category=UserWarning)
        raw = np.asarray(model.fit_transform(docs, embeddings=sampled)[0], dtype=np.int64)
    if config.max_topics is not None and int(raw.max()) + 1 > config.max_topics:
        say("reduce topics")
        # BERTopic counts the outlier topic -1 among nr_topics when there is one.
        outliers = int((raw == OUTLIER).any())
        model.reduce_topics(docs, nr_topics=config.max_topics + outliers)
        raw = np.asarray(model.topics_, dtype=np.int64)
    n_topics = int(raw.max()) + 1 if len(raw) else 0
    before = float((raw == OUTLIER).mean())
    centroids, own = centroids_of(sampled, raw, n_topics)
    min_sim = _min_similarity(raw, own, n_topics, config.assign_quantile)
    labels = np.full(n, OUTLIER, np.int64)
    labels[sample] = raw
    if m < n:
        say("assign")
        rest = np.setdiff1d(np.arange(n), sample)
        assigned, _ = assign(embeddings[rest], list(range(n_topics)), centroids, min_sim.tolist())
        labels[rest] = assigned
    say("reduce outliers")
    labels = reduce_outliers(embeddings, labels, centroids, config.max_outlier_share)
    if config.align == "procrustes":
        # HDBSCAN leaves items between two dense cores out even when they sit as close to
        # a centroid as the topic's own members; new items in that spot would join it.
        labels = join_close_outliers(embeddings, labels, centroids, min_sim)
    if n_topics and not np.array_equal(labels[sample], raw):
        say("keywords")
        model.update_topics(
            docs, topics=labels[sample].tolist(), vectorizer_model=make_vectorizer()
        )
    centroids, own = centroids_of(embeddings, labels, n_topics)
    keywords = []
    for topic in range(n_topics):
        words = [(str(w), float(s)) for w, s in (model.get_topic(topic) or []) if w]
        keywords.append(diverse_keywords(words, config.top_n_words))
    phrase_language = phrase_languages(docs, vietnamese)
    sample_labels = labels[sample]
    topic_labels = []
    majorities = []
    for topic in range(n_topics):
        members = [vietnamese[k] for k in np.flatnonzero(sample_labels == topic).tolist()]
        majority = "vi" if sum(members) * 2 >= len(members) else "en"
        majorities.append(majority)
        topic_labels.append(bilingual_label(keywords[topic], phrase_language, majority))
    return TopicFit(
        labels=labels,
        similarity=own,
        keywords=keywords,
        topic_labels=topic_labels,
        centroids=centroids,
        min_similarity=_min_similarity(labels, own, n_topics, config.assign_quantile),
        outlier_share_before=before,
        outlier_share=float((labels == OUTLIER).mean()),
        language_means=means,
        params=params,
        topic_languages=majorities,
        keyword_languages={
            w: phrase_language[w] for words in keywords for w, _ in words if w in phrase_language
        },
    )


def _min_similarity(
    labels: npt.NDArray[np.int64], own: npt.NDArray[np.float32], n_topics: int, quantile: float
) -> npt.NDArray[np.float32]:
    """Per topic: the ``quantile`` of its members' similarity to its centroid."""
    out = np.ones(n_topics, np.float32)
    for topic in range(n_topics):
        member = own[labels == topic]
        if len(member):
            out[topic] = float(np.quantile(member, quantile))
    return out


def phrase_languages(docs: Sequence[str], vietnamese: Sequence[bool]) -> dict[str, str]:
    """Each phrase's language: "vi" if it occurs at least as often in Vietnamese texts."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for doc, vi in zip(docs, vietnamese, strict=True):
        for phrase in set(phrases(doc)):
            counts[phrase][0 if vi else 1] += 1
    return {p: "vi" if vi >= en else "en" for p, (vi, en) in counts.items()}


def bilingual_label(
    keywords: Sequence[tuple[str, float]],
    phrase_language: Mapping[str, str],
    majority: str,
    n: int = 3,
) -> str:
    """``giao hàng · trễ · chậm / delivery · late``: the topic's top phrases in the language of
    most of its items, then, after a slash, the top ones in the other language."""
    words = [w for w, _ in keywords]
    own = [w for w in words if phrase_language.get(w, majority) == majority]
    other = [w for w in words if phrase_language.get(w, majority) != majority]
    label = auto_label([(w, 0.0) for w in own], n)
    if other:
        label += " / " + auto_label([(w, 0.0) for w in other], max(1, n - 1))
    return label


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


# --------------------------------------------------------------------------- quotes

_QUOTE_WORD = re.compile(r"\w+", re.UNICODE)


def distinct_quotes(texts: Sequence[str], limit: int, near: float = 0.7) -> list[int]:
    """Indexes of up to ``limit`` of ``texts`` (best first) with no duplicate among them.

    Two texts are the same quote when their words agree once case, punctuation and
    diacritics are set aside (exact duplicates, and "Giao hang cham" against "Giao
    hàng chậm!"), or near-duplicates when the Jaccard similarity of their word sets is
    at least ``near`` ("delivery took 3 days longer than promised" and "... 5 days
    ..."). The first of each is kept, so pass the texts best first.
    """
    from nlp.text import strip_diacritics

    kept: list[int] = []
    seen: list[frozenset[str]] = []
    exact: set[tuple[str, ...]] = set()
    for index, text in enumerate(texts):
        if len(kept) >= limit:
            break
        words = tuple(_QUOTE_WORD.findall(strip_diacritics(text)))
        bag = frozenset(words)
        if words in exact or any(len(bag & s) / max(1, len(bag | s)) >= near for s in seen):
            continue
        exact.add(words)
        seen.append(bag)
        kept.append(index)
    return kept


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
