"""Topic quality on the synthetic corpus, which knows each item's subject.

    .venv/bin/python -m eval.topics_quality [--sizes 2000 10000 100000] [--whole-text 2000]
        [--aligns graph procrustes] [--seeds 42 1 2]

For each size the corpus of :mod:`eval.synthetic` (14 subjects, Vietnamese with
and without diacritics and English, one to three sentences per item) is embedded
with the shipped encoder (``load_encoder("auto")``) through the embedding cache,
exactly as the pipeline embeds an item (its language detected, its text
normalised, unaccented Vietnamese restored by the shipped mark model, its segments
weighted). Topics are fitted with the production code (:func:`nlp.topics.model.fit_topics`),
each size in a fresh process so its peak memory is its own, and the script prints

- ARI: adjusted Rand index of the topics (outliers as one more cluster) against
  the subject each item was generated about;
- bilingual: the share of subjects that land, in their largest topic, with at
  least 20% of that topic's items and at least 5 of them in each language, over
  the subjects that appear in both languages;
- topics/subject: per subject, the topics holding at least 10% of its items,
  averaged;
- outliers: the share of items left in topic -1;
- nearest subject: of the items whose sentences are all on their subject, the share
  whose nearest subject centroid (the mean of that subject's items, after the fit's
  spelling-group centring) is their own subject's. It needs the true subjects, so no
  fit can use it: it says how far apart the encoder puts the subjects, which bounds
  what any clustering of these embeddings can find;
- fit time and the process's peak RSS.

Embedding 100k distinct texts with the int8 encoder takes about 40 minutes on this
2-core machine, so by default only the sizes up to ``--whole-text`` are embedded
text by text; above it an item's vector is the normalised mean of its sentences'
vectors (every generator sentence embedded once), which is the pipeline's own way of
combining segments. The 2k row is given both ways, so the difference is measured.
The first of ``--aligns`` is the baseline in the same run, the others are printed beside it
as a ratio: ``mean`` is the oldest method (per-language mean subtraction only, a plain
15-neighbour UMAP, HDBSCAN's smallest topic √n/2, every document clustered), ``graph`` the
default (spelling groups centred, balanced neighbour graph), ``procrustes`` the option
(groups centred and rotated onto the largest, close outliers joined).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from eval.synthetic import document_text, topic_documents, topic_sentence_pool

OUT = Path("eval/out")
CACHE = OUT / "topics_quality_embeddings.sqlite"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _encoder() -> Any:
    from nlp.encoders.cache import CachedEncoder
    from nlp.encoders.registry import load_encoder

    return CachedEncoder(load_encoder("auto"), CACHE)


@lru_cache(maxsize=1)
def _marks() -> Any:
    """The shipped mark model (None when the manifest names none), loaded once."""
    from models import MODELS_DIR, load_manifest
    from nlp.components.marks import load_marks

    return load_marks(load_manifest(), MODELS_DIR)


def _prepared(texts: list[str]) -> tuple[list[str], list[Any]]:
    """Each text's language and normalised form (unaccented Vietnamese with its marks
    restored by the shipped mark model), as the pipeline computes them."""
    from nlp.pipeline import prepare
    from nlp.types import FeedbackText

    marks = _marks()
    prepared = [prepare(FeedbackText(text=t, channel="review"), marks) for t in texts]
    return [str(lang) for lang, _ in prepared], [text for _, text in prepared]


def corpus(
    n: int, whole_text: bool
) -> tuple[list[str], list[str], list[str], npt.NDArray[np.float32]]:
    """Texts, subjects, detected languages and embeddings of ``n`` synthetic items."""
    from nlp.components.encode import weighted_embeddings

    pool = topic_sentence_pool(per_template=40)
    items = list(topic_documents(n, pool, seed=n))
    texts = [document_text(picks, pool) for picks, _ in items]
    subjects = [subject for _, subject in items]
    languages, normalised = _prepared(texts)
    encoder = _encoder()
    if whole_text:
        embeddings = weighted_embeddings(encoder, normalised)
    else:
        sentences = [s[0].upper() + s[1:] + "." for s, _, _ in pool]
        _, pool_norm = _prepared(sentences)
        vectors = weighted_embeddings(encoder, pool_norm)
        embeddings = np.stack([vectors[picks].mean(axis=0) for picks, _ in items])
        embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    return texts, subjects, languages, embeddings.astype(np.float32)


def scores(
    labels: npt.NDArray[np.int64], subjects: list[str], written: list[str]
) -> dict[str, float]:
    """ARI, bilingual share, topics per subject and outlier share of one fit."""
    from sklearn.metrics import adjusted_rand_score

    by_subject: dict[str, Counter[int]] = defaultdict(Counter)
    for label, subject in zip(labels.tolist(), subjects, strict=True):
        by_subject[subject][label] += 1
    per_topic_lang: dict[int, Counter[str]] = defaultdict(Counter)
    for label, lang in zip(labels.tolist(), written, strict=True):
        per_topic_lang[label][lang] += 1
    both = [
        s
        for s in by_subject
        if {w for w, subj in zip(written, subjects, strict=True) if subj == s} >= {"vi", "en"}
    ]
    joined = 0
    for subject in both:
        top = next((t for t, _ in by_subject[subject].most_common() if t >= 0), None)
        if top is None:
            continue
        langs = per_topic_lang[top]
        total = sum(langs.values())
        if all(langs[w] >= 5 and langs[w] >= 0.2 * total for w in ("vi", "en")):
            joined += 1
    spread = [
        sum(1 for t, c in counts.items() if t >= 0 and c >= 0.1 * sum(counts.values()))
        for counts in by_subject.values()
    ]
    return {
        "ari": round(float(adjusted_rand_score(subjects, labels)), 3),
        "bilingual": round(joined / max(1, len(both)), 3),
        "topics_per_subject": round(float(np.mean(spread)), 2),
        "outliers": round(float((labels < 0).mean()), 3),
    }


def nearest_subject(
    embeddings: npt.NDArray[np.float32],
    subjects: list[str],
    groups: list[str],
    single: npt.NDArray[np.bool_],
) -> float:
    """Share of the ``single``-subject items whose nearest subject centroid is their own."""
    from nlp.topics.model import center, language_means

    x = center(embeddings, groups, language_means(embeddings, groups))
    truth = np.asarray(subjects)
    names = sorted(set(subjects))
    centroids = np.stack([x[truth == s].mean(axis=0) for s in names])
    nearest = np.asarray(names)[(x @ centroids.T).argmax(axis=1)]
    return round(float((nearest == truth)[single].mean()), 3)


def run(n: int, whole_text: bool, align: str, seeds: list[int] | None = None) -> dict[str, Any]:
    """One measurement in this process; with ``seeds``, one fit per seed (the first's
    time, memory and labels), the scores averaged and each seed's ARI listed: one fit's ARI
    moves by 0.1 or more with the seed alone, too much to compare methods on one."""
    from nlp.topics.model import TopicConfig, fit_topics, spelling_group

    texts, subjects, languages, embeddings = corpus(n, whole_text)
    # The language each item was *written* in, from the generator (unaccented is Vietnamese).
    pool = topic_sentence_pool(per_template=40)
    documents = list(topic_documents(n, pool, seed=n))
    written = [pool[picks[0]][2] for picks, _ in documents]
    single = np.asarray([all(pool[i][1] == s for i in picks) for picks, s in documents])
    separated = nearest_subject(
        embeddings,
        subjects,
        [spelling_group(lang, t) for lang, t in zip(languages, texts, strict=True)],
        single,
    )
    if align == "mean":
        # The previous method in full: language means only, plain 15-neighbour UMAP,
        # HDBSCAN's smallest topic √n/2, every document clustered.
        config = TopicConfig(
            align="mean", n_neighbors=15, min_cluster_size=max(5, int(n**0.5 / 2)), fit_sample=n
        )
        groups: list[str] | None = languages
    else:
        config, groups = TopicConfig(align=align), None
    if seeds:
        config = replace(config, seed=seeds[0])
    # Numba compiles UMAP's kernels on first use; a worker pays that once per process.
    fit_topics(
        texts[:300], embeddings[:300], languages[:300], config, groups=groups and groups[:300]
    )
    base = _rss_mb()
    started = time.perf_counter()
    fit = fit_topics(texts, embeddings, languages, config, groups=groups)
    seconds = time.perf_counter() - started
    measured = scores(fit.labels, subjects, written)
    topics = float(fit.n_topics)
    extra: dict[str, Any] = {}
    if seeds and len(seeds) > 1:
        runs = [(measured, fit.n_topics)]
        for seed in seeds[1:]:
            again = fit_topics(
                texts, embeddings, languages, replace(config, seed=seed), groups=groups
            )
            runs.append((scores(again.labels, subjects, written), again.n_topics))
        measured = {k: round(float(np.mean([r[k] for r, _ in runs])), 3) for k in measured}
        topics = round(float(np.mean([t for _, t in runs])), 1)
        extra = {"seeds": seeds, "ari_per_seed": [r["ari"] for r, _ in runs]}
    return {
        "n": n,
        "embedding": "whole text" if whole_text else "sentence mean",
        "align": align,
        **measured,
        "nearest_subject": separated,
        **extra,
        "topics": topics,
        "fit_s": round(seconds, 1),
        "peak_rss_mb": round(_rss_mb()),
        "rss_before_fit_mb": round(base),
        "languages_detected": dict(Counter(languages)),
        "labels": fit.topic_labels,
    }


def main() -> None:
    """Measure each size (and the baseline) in its own child process, then print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2_000, 10_000])
    parser.add_argument(
        "--whole-text", type=int, default=2_000, help="embed sizes up to this text by text"
    )
    parser.add_argument("--aligns", nargs="+", default=["graph", "procrustes"])
    parser.add_argument(
        "--baseline-max", type=int, default=10_000, help="run the baseline up to this size"
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", help="fit once per seed and average (default: one fit)"
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        n, whole, align = args.child
        print(json.dumps(run(int(n), whole == "1", align, args.seeds)))
        return
    OUT.mkdir(parents=True, exist_ok=True)
    runs = []
    for n in args.sizes:
        modes = [True, False] if n <= args.whole_text else [False]
        for whole in modes:
            for align in args.aligns:
                if align != args.aligns[0] or n <= args.baseline_max:
                    runs.append((n, whole, align))
    results = []
    for n, whole, align in runs:
        child = subprocess.run(
            [
                sys.executable,
                "-m",
                "eval.topics_quality",
                "--child",
                str(n),
                str(int(whole)),
                align,
                *(["--seeds", *map(str, args.seeds)] if args.seeds else []),
            ],
            capture_output=True,
            text=True,
        )
        if child.returncode:
            print(child.stderr[-3000:], file=sys.stderr)
            raise SystemExit(child.returncode)
        result = json.loads(child.stdout.strip().splitlines()[-1])
        results.append(result)
        print(json.dumps(result), flush=True)
    print()
    print(
        "| items | embedding | alignment | ARI | bilingual | topics/subject | outliers | topics "
        "| nearest subject | fit s | peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['n']:,} | {r['embedding']} | {r['align']} | {r['ari']} | {r['bilingual']:.0%} | "
            f"{r['topics_per_subject']} | {r['outliers']:.0%} | {r['topics']} | "
            f"{r['nearest_subject']:.0%} | {r['fit_s']} | "
            f"{r['peak_rss_mb']:,} |"
        )
    baseline = {(r["n"], r["embedding"]): r for r in results if r["align"] == args.aligns[0]}
    for r in results:
        b = baseline.get((r["n"], r["embedding"]))
        if b is not None and r is not b:
            print(
                f"{r['n']:,} {r['embedding']}: {r['align']} / {b['align']}: "
                f"ARI x{r['ari'] / max(b['ari'], 1e-9):.2f}, "
                f"fit time x{r['fit_s'] / max(b['fit_s'], 1e-9):.2f}"
            )
    for r in results:
        if r["align"] != args.aligns[0] and r["embedding"] == "whole text":
            print(f"\ntopic labels, {r['n']:,} items, whole text, {r['align']}:")
            for label in r.get("labels", []):
                print(f"  {label}")
    (OUT / "topics_quality.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
