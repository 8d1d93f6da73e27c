"""How topics group into themes at each distance threshold, on the synthetic corpus.

    .venv/bin/python -m eval.themes_quality --size 2000 --distances 0.5 0.6 0.7 0.75 0.8 0.9

Fits the production topics on ``size`` generated items (sentence-mean embeddings, as
``eval.topics_quality`` makes them), then groups the topics at every distance and scores
the grouping against a theme per family of generated subjects (:data:`FAMILIES`): the
adjusted Rand index of the items' themes (each topic standing for its majority subject),
and how many themes mix topics whose subjects belong to different families.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

from eval.synthetic import SUBJECT_NAMES

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
    """Fit once, then print one JSON line per distance."""
    from sklearn.metrics import adjusted_rand_score

    from eval.topics_quality import corpus
    from nlp.topics.model import TopicConfig, fit_topics
    from nlp.topics.themes import ThemeMember, group_topics, theme_label

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument(
        "--distances", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.75, 0.8, 0.9]
    )
    args = parser.parse_args()
    texts, subjects, languages, embeddings = corpus(args.size, whole_text=False)
    fit = fit_topics(texts, embeddings, languages, TopicConfig())
    sizes = fit.sizes()
    labels = fit.labels.tolist()
    majority = []
    for topic in range(fit.n_topics):
        counts = Counter(s for s, k in zip(subjects, labels, strict=True) if k == topic)
        majority.append(counts.most_common(1)[0][0])
    truth = [FAMILIES[majority[t]] for t in range(fit.n_topics) for _ in range(sizes[t])]
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import pdist

    heights = linkage(pdist(fit.centroids.astype(float), "cosine"), "average")[:, 2]
    print(json.dumps({"merge_heights": [round(float(h), 3) for h in heights]}), flush=True)
    for distance in args.distances:
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
        print(
            json.dumps(
                {
                    "distance": distance,
                    "topics": fit.n_topics,
                    "themes": len(groups),
                    "ari_vs_families": round(float(adjusted_rand_score(truth, predicted)), 3),
                    "mixed_themes": sum(
                        len({FAMILIES[majority[t]] for t in members}) > 1 for members in groups
                    ),
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


if __name__ == "__main__":
    main()
