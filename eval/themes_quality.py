"""How topics group into themes at each distance threshold, on the synthetic corpus.

    .venv/bin/python -m eval.themes_quality --size 2000 --distances 0.5 0.6 0.7 0.75 0.8 0.9
        [--seeds 42 1 7] [--whole-text]

Fits the production topics on ``size`` generated items (sentence-mean embeddings, as
``eval.topics_quality`` makes them; with ``--whole-text`` every item embedded, as the
service does), once per seed, then groups the topics at every distance and scores
the grouping against a theme per family of generated subjects (:data:`FAMILIES`): the
adjusted Rand index of the items' themes (each topic standing for its majority subject),
and how many themes mix topics whose subjects belong to different families. With several
seeds it ends with each distance's figures over the seeds: one fit's topics move with the seed,
and so do the distances at which they merge.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from typing import TYPE_CHECKING

from eval.synthetic import SUBJECT_NAMES

if TYPE_CHECKING:
    from nlp.topics.model import TopicFit

# The themes a person would draw over the generator's 14 subjects.
FAMILIES = {
    "late_delivery": "delivery",
    "damaged_parcel": "delivery",
    "wrong_item": "delivery",
    "refund": "money",
    "double_charge": "money",
    "price": "money",
    "promotion": "money",
    "app_crash": "app and account",
    "login": "app and account",
    "friendly_staff": "service",
    "rude_staff": "service",
    "hotline": "service",
    "quality_good": "product",
    "quality_bad": "product",
}
assert set(FAMILIES) == set(SUBJECT_NAMES)


def main() -> None:
    """Fit once per seed, print one JSON line per distance, then (several seeds) a summary."""
    from eval.topics_quality import corpus
    from nlp.topics.model import TopicConfig, fit_topics

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument(
        "--distances", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.75, 0.8, 0.9]
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[TopicConfig().seed])
    parser.add_argument("--whole-text", action="store_true", help="embed every item")
    args = parser.parse_args()
    texts, subjects, languages, embeddings = corpus(args.size, whole_text=args.whole_text)
    summary: dict[float, list[tuple[float, int, int]]] = {d: [] for d in args.distances}
    for seed in args.seeds:
        fit = fit_topics(texts, embeddings, languages, TopicConfig(seed=seed))
        for distance, figures in _grouped(fit, subjects, args.distances, seed).items():
            summary[distance].append(figures)
    if len(args.seeds) > 1:
        print(
            "| distance | themes | ARI against the families | mixed themes | per seed (ARI/mixed) |"
        )
        print("|---|---|---|---|---|")
        for distance, rows in summary.items():
            aris, themes, mixed = zip(*rows, strict=True)
            print(
                f"| {distance} | {sum(themes) / len(themes):.1f} | {sum(aris) / len(aris):.3f} "
                f"| {sum(mixed) / len(mixed):.1f} | "
                + ", ".join(f"{a:.3f}/{m}" for a, _, m in rows)
                + " |"
            )


def _grouped(
    fit: TopicFit, subjects: list[str], distances: list[float], seed: int
) -> dict[float, tuple[float, int, int]]:
    """Print how one fit's topics group at each distance; (ARI, themes, mixed) per distance."""
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import pdist
    from sklearn.metrics import adjusted_rand_score

    from nlp.topics.themes import ThemeMember, group_topics, theme_label

    sizes = fit.sizes()
    labels = fit.labels.tolist()
    majority = []
    for topic in range(fit.n_topics):
        counts = Counter(s for s, k in zip(subjects, labels, strict=True) if k == topic)
        majority.append(counts.most_common(1)[0][0])
    truth = [FAMILIES[majority[t]] for t in range(fit.n_topics) for _ in range(sizes[t])]
    heights = linkage(pdist(fit.centroids.astype(float), "cosine"), "average")[:, 2]
    print(
        json.dumps({"seed": seed, "merge_heights": [round(float(h), 3) for h in heights]}),
        flush=True,
    )
    out: dict[float, tuple[float, int, int]] = {}
    for distance in distances:
        groups = group_topics(fit.centroids, sizes, distance)
        theme = {t: g for g, members in enumerate(groups) for t in members}
        predicted = [theme[t] for t in range(fit.n_topics) for _ in range(sizes[t])]
        names = [
            theme_label(
                [ThemeMember(fit.keywords[t], sizes[t], fit.topic_languages[t]) for t in members],
                fit.keyword_languages,
            )
            for members in groups
        ]
        ari = round(float(adjusted_rand_score(truth, predicted)), 3)
        mixed = sum(len({FAMILIES[majority[t]] for t in members}) > 1 for members in groups)
        out[distance] = (ari, len(groups), mixed)
        print(
            json.dumps(
                {
                    "seed": seed,
                    "distance": distance,
                    "topics": fit.n_topics,
                    "themes": len(groups),
                    "ari_vs_families": ari,
                    "mixed_themes": mixed,
                    "groups": [
                        {"name": name, "subjects": [majority[t] for t in members]}
                        for name, members in zip(names, groups, strict=True)
                        if len(members) > 1
                    ],
                },
                ensure_ascii=False,
            ),
            flush=True,
        )
    return out


if __name__ == "__main__":
    main()
