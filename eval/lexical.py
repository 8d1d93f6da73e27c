"""Does lexical evidence add points? Embedding-only heads beside embedding + char n-grams.

    python -m eval.lexical [--datasets ../shared/datasets]

Trains logistic regressions on our labels, written examples and the seed set (with
unaccented copies of Vietnamese rows) and scores them on our labels' fixed test split,
per language: over the shipped encoder's embedding alone, and with character 2-5-gram
TF-IDF features stacked beside it. Prints one line per head and configuration. A
measurement for eval/REPORT.md, not part of serving.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from langnghe.config import Settings
from models import MODELS_DIR
from nlp.components.cues import with_cues
from nlp.encoders.cache import CachedEncoder
from nlp.encoders.onnx_runtime import OnnxEncoder
from nlp.encoders.shipping import ensure_rebuilt
from nlp.training.corpora import Example, discover
from nlp.training.heads import embed, serving_texts, unaccented_copy

Label = Callable[[Example], str | None]
HEADS: dict[str, tuple[Label, bool]] = {
    "category": (lambda e: e.category if e.complaint else None, False),
    "complaint": (lambda e: None if e.complaint is None else str(e.complaint), False),
    "churn": (lambda e: None if e.churn_risk is None else str(e.churn_risk), True),
    "severity": (lambda e: e.severity, True),
}


def main() -> None:
    """Fit each head both ways and print macro-F1 per language on the test split."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
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
    tfidf = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True, max_features=200_000
    ).fit(t_train)
    lex_train, lex_test = tfidf.transform(t_train), tfidf.transform(t_test)
    for name, (label, cues) in HEADS.items():
        tr = [i for i, e in enumerate(train) if label(e) is not None]
        te = [i for i, e in enumerate(test) if label(e) is not None]
        a, b = x_train[tr], x_test[te]
        if cues:
            a = with_cues(a, [t_train[i] for i in tr])
            b = with_cues(b, [t_test[i] for i in te])
        y_train = [label(train[i]) for i in tr]
        y_test = np.array([label(test[i]) for i in te])
        langs = np.array([test[i].lang for i in te])
        for lexical in (False, True):
            fa = hstack([csr_matrix(a), lex_train[tr]]).tocsr() if lexical else a
            fb = hstack([csr_matrix(b), lex_test[te]]).tocsr() if lexical else b
            model = LogisticRegression(C=4.0, class_weight="balanced", max_iter=3000)
            guess = model.fit(fa, y_train).predict(fb)
            scores = {
                lang: round(
                    float(
                        f1_score(
                            y_test[langs == lang],
                            guess[langs == lang],
                            average="macro",
                            zero_division=0,
                        )
                    ),
                    3,
                )
                for lang in ("vi", "en")
            }
            kind = "embedding + char n-grams" if lexical else "embedding only"
            print(f"{name:10} {kind:26} macro-F1 vi {scores['vi']} en {scores['en']}", flush=True)


if __name__ == "__main__":
    main()
