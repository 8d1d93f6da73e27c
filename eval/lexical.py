"""Does lexical evidence add points? Each head with and without the hashed n-gram block.

    python -m eval.lexical [--datasets ../shared/datasets]

Trains logistic regressions on our labels, written examples and the seed set (train and
dev splits, with unaccented copies of Vietnamese rows) and scores them on our labels'
fixed test split, per language: over the head's features without ``lexical`` (the
embedding, and the cues where the head reads them) and with it, built by the same code as
serving (:mod:`nlp.components.features`). Prints one line per head and configuration: the
ablation behind the heads that read n-grams (nlp.training.heads.SPECS). The shipped heads'
own figures come from ``langnghe eval``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from langnghe.config import Settings
from models import MODELS_DIR
from nlp.components.features import text_features
from nlp.components.lexical import CharNgrams
from nlp.encoders.cache import CachedEncoder
from nlp.encoders.onnx_runtime import OnnxEncoder
from nlp.encoders.shipping import ensure_rebuilt
from nlp.training.corpora import discover
from nlp.training.heads import SPECS, embed, serving_texts, unaccented_copy

ABLATED = ("complaint", "category", "churn", "severity")


def main() -> None:
    """Fit each head both ways and print macro-F1 per language on the test split."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--strength", type=float, default=4.0, help="C of every fit.")
    args = parser.parse_args()
    settings = Settings()
    encoder = CachedEncoder(
        OnnxEncoder(ensure_rebuilt(settings.encoder_cache_dir), int8=True),
        settings.data_dir / "embeddings.sqlite",
    )
    own = MODELS_DIR / "data"
    corpora = {
        c.name: c
        for c in discover(
            [
                args.datasets,
                own / "labels/ours.labels.jsonl",
                own / "written.jsonl",
                own / "seed.jsonl",
            ]
        )
    }
    train = [
        e for name in ("ours", "written", "seed") for e in corpora[name].train + corpora[name].dev
    ]
    train += [c for e in train if (c := unaccented_copy(e))]
    test = corpora["ours"].test
    x_train, x_test = embed(encoder, train, "train"), embed(encoder, test, "test")
    t_train, t_test = serving_texts(train), serving_texts(test)
    lexical = CharNgrams.fit(t_train)
    for name in ABLATED:
        spec = SPECS[name]
        tr = [i for i, e in enumerate(train) if spec.target(e) is not None]
        te = [i for i, e in enumerate(test) if spec.target(e) is not None]
        y_train = [spec.target(train[i]) for i in tr]
        y_test = np.array([spec.target(test[i]) for i in te])
        langs = np.array([test[i].lang for i in te])
        without = tuple(b for b in spec.features if b != "lexical")
        for blocks in (without, (*without, "lexical")):
            fa = text_features(x_train[tr], [t_train[i] for i in tr], blocks, lexical)
            fb = text_features(x_test[te], [t_test[i] for i in te], blocks, lexical)
            model = LogisticRegression(
                C=args.strength, class_weight="balanced", max_iter=3000, tol=1e-3
            )
            guess = model.fit(fa, y_train).predict(fb)
            scores = {
                lang: f1_score(
                    y_test[langs == lang], guess[langs == lang], average="macro", zero_division=0
                )
                for lang in ("vi", "en")
            }
            print(
                f"{name:10} {' + '.join(blocks):30} macro-F1 vi {scores['vi']:.3f} "
                f"en {scores['en']:.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
