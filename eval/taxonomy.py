"""A tenant taxonomy of five new categories for a Vietnamese bank, end to end on real e5.

``eval/data/taxonomy_eval.jsonl`` holds texts we wrote (``"written": true``), VI and EN:
5 examples per category (``split: example``), 10 more per category that play the part of
corrections a support lead makes (``split: correction``), and 20 held-out texts per
category (``split: test``) that nothing is fitted on. Every text is embedded by the real
pipeline (nlp.pipeline.Pipeline on the shipped encoder, as the worker stores it), then:

1. the few-shot classifier (nlp.components.prototypes) on the 25 examples, scored on the
   100 test texts;
2. the same after the 50 corrections join the prototypes.

Run: ``nice -n 19 .venv/bin/python -m eval.taxonomy`` (about a minute on 2 cores).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from nlp.components.prototypes import PrototypeClassifier
from nlp.pipeline import Pipeline
from nlp.training.tenant_heads import macro_f1
from nlp.types import FeedbackText

DATA = Path(__file__).resolve().parent / "data" / "taxonomy_eval.jsonl"
TARGETS = {"5 examples": 0.70, "after 50 corrections": 0.80}


def main() -> int:
    """Print macro-F1 before and after corrections, overall and per language."""
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line]
    assert all(r["written"] for r in rows)
    pipeline = Pipeline()
    embeddings = np.concatenate(
        [
            np.stack(
                [
                    a.embedding
                    for a in pipeline.analyze(
                        [FeedbackText(r["text"], language_hint=r["lang"]) for r in rows[i : i + 32]]
                    )
                ]
            )
            for i in range(0, len(rows), 32)
        ]
    )
    split = np.array([r["split"] for r in rows])
    labels = [r["category"] for r in rows]
    test = np.flatnonzero(split == "test")
    truth = [labels[i] for i in test]
    report: dict[str, dict[str, float]] = {}
    for name, members in (
        ("5 examples", np.flatnonzero(split == "example")),
        ("after 50 corrections", np.flatnonzero(split != "test")),
    ):
        model = PrototypeClassifier.fit([labels[i] for i in members], embeddings[members])
        predicted = [str(c) for c, _ in model.predict(embeddings[test])]
        figures = {"macro_f1": macro_f1(truth, predicted), "temperature": model.temperature}
        for lang in ("vi", "en"):
            idx = [k for k, i in enumerate(test) if rows[i]["lang"] == lang]
            figures[f"macro_f1_{lang}"] = macro_f1(
                [truth[k] for k in idx], [predicted[k] for k in idx]
            )
        report[name] = figures
    print(
        f"{len(test)} held-out texts, {len(set(truth))} categories, encoder {pipeline.encoder.name}"
    )
    for name, figures in report.items():
        verdict = "met" if figures["macro_f1"] >= TARGETS[name] else "missed"
        print(
            f"{name:>22}: macro-F1 {figures['macro_f1']:.3f} (target >= {TARGETS[name]:.2f}: "
            f"{verdict}); vi {figures['macro_f1_vi']:.3f}, en {figures['macro_f1_en']:.3f}; "
            f"temperature {figures['temperature']:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
