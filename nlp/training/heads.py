"""Train the linear heads on labelled feedback; write heads, model cards and the manifest.

    langnghe train --data ../shared/datasets --data models/data/seed.jsonl --out models

Each head is trained on every row, from every set, that carries its label (see
nlp.training.corpora for how source labels map onto ours). The regularisation strength
is tuned on the dev splits only; the figures in the card are dev-split figures
beside a majority-class baseline. Much Vietnamese feedback is typed without
diacritics, which the encoder reads quite differently, so Vietnamese training
rows also train in a stripped copy, read (as at serving time) with the marks the
mark model of the manifest restores.
"""

from __future__ import annotations

import json
import random
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix, issparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from tqdm import tqdm

from models import MANIFEST, MODELS_DIR, load_manifest
from nlp.components.features import Features, text_features
from nlp.components.heads import LinearHead, OrdinalHead, Weights
from nlp.components.lexical import LEXICAL_VERSION, CharNgrams
from nlp.components.marks import MarkModel, load_marks
from nlp.encoders.registry import Embeddings, Encoder
from nlp.pipeline import HEADS, prepare, weighted_embeddings
from nlp.text import strip_diacritics
from nlp.training import aspects as aspect_training
from nlp.training.corpora import SEVERITIES, Corpus, Example, discover
from nlp.types import FeedbackText

SEED = 13
LEXICAL_FILE = "lexical.npz"
ENCODE_BATCH = 64
STRENGTHS = (0.25, 1.0, 4.0, 16.0, 64.0)
TEMPERATURES = np.geomspace(0.25, 4.0, 33)


@dataclass(frozen=True)
class HeadSpec:
    """How to read one head's label from an example, and what the head is for."""

    name: str
    label: Callable[[Example], str | None]
    purpose: str
    ordinal: bool = False
    """Classes are star ratings: tune for the expected value's error and keep class priors,
    instead of balancing classes for macro-F1."""
    order: tuple[str, ...] = ()
    """Ordered classes: fit cumulative binary models (:class:`OrdinalHead`)."""
    features: tuple[str, ...] = ("embedding",)
    """The feature blocks the head reads (:mod:`nlp.components.features`)."""
    skip_sets: tuple[str, ...] = ()
    """Sets whose labels for this head are not used (weak mappings that teach the wrong
    convention)."""

    set_weights: dict[str, float] = field(default_factory=dict)
    """Per set, how much each of its rows counts in the fit (default 1): our own labels of
    real feedback outweigh written examples and public sets labelled under other rules."""

    def weight(self, example: Example) -> float:
        """How much ``example`` counts when this head is fitted."""
        return self.set_weights.get(example.set_name, 1.0)

    def target(self, example: Example) -> str | None:
        """The example's label for this head, or None when it gives none (or is skipped)."""
        return None if example.set_name in self.skip_sets else self.label(example)


SPECS = {
    "sentiment": HeadSpec("sentiment", lambda e: e.sentiment, "Polarity of the customer's text."),
    "complaint": HeadSpec(
        "complaint",
        lambda e: None if e.complaint is None else ("yes" if e.complaint else "no"),
        "Whether the text reports a problem.",
        # Our labels follow LABELLING.md's definition and count three times; the star and
        # polarity mappings of the public sets only approximate it and count 0.3, but they
        # stay: they are most of the Vietnamese "no" rows (without them the head flagged 57%
        # of 4-5 star ViSFD reviews as complaints). eval/REPORT.md has the figures.
        set_weights={"ours": 3.0, "aivivn-2019": 0.3, "uit-visfd": 0.3, "twitter-airline": 0.3},
    ),
    "category": HeadSpec(
        "category",
        lambda e: e.category if e.complaint else None,
        "What a complaint is about, in one VI/EN taxonomy.",
        features=("embedding", "lexical"),
        # Airline complaint reasons and smartphone aspects map onto our categories only
        # roughly (a late flight is no late parcel); our own labels follow LABELLING.md.
        skip_sets=("twitter-airline", "uit-visfd"),
    ),
    "csat": HeadSpec(
        "csat",
        lambda e: None if e.stars is None else str(e.stars),
        "Inferred satisfaction: the star rating the customer would give.",
        ordinal=True,
    ),
    "churn": HeadSpec(
        "churn",
        lambda e: None if e.churn_risk is None else ("yes" if e.churn_risk else "no"),
        "Whether the customer says or implies they will leave (the cue list is a feature).",
        features=("embedding", "cues", "lexical"),
    ),
    "severity": HeadSpec(
        "severity",
        lambda e: e.severity,
        "How serious a problem is: low, medium, high, critical (ordinal; cues are features).",
        order=SEVERITIES,
        features=("embedding", "cues", "lexical"),
    ),
}
OPTIONAL_HEADS = ("churn", "severity")
"""Trained where the data labels them; the pipeline falls back to the cue rules otherwise."""


def serving_text(text: str, channel: str = "review") -> str:
    """What the encoder and the cues read at serving time: the normalised text."""
    return prepare(FeedbackText(text=text, channel=channel))[1].text  # type: ignore[arg-type]


def serving_texts(examples: Sequence[Example]) -> list[str]:
    """The normalised texts of ``examples``."""
    return [serving_text(e.text, e.channel) for e in examples]


def unaccented_copy(example: Example) -> Example | None:
    """The example typed without diacritics, when it is Vietnamese and had any."""
    if example.lang != "vi":
        return None
    stripped = strip_diacritics(example.text)
    if stripped == example.text.lower():
        return None
    return Example(**{**example.__dict__, "text": stripped, "id": example.id + "#unaccented"})


def embed(
    encoder: Encoder, examples: Sequence[Example], desc: str, marks: MarkModel | None = None
) -> Embeddings:
    """Embed exactly as the pipeline does at serving time (language, normalisation, the
    marks restored by ``marks``)."""
    prepared = [
        prepare(FeedbackText(text=e.text, channel=e.channel), marks)[1]  # type: ignore[arg-type]
        for e in examples
    ]
    chunks = [
        weighted_embeddings(encoder, prepared[start : start + ENCODE_BATCH])
        for start in tqdm(range(0, len(prepared), ENCODE_BATCH), desc=desc, unit="batch")
    ]
    return np.concatenate(chunks) if chunks else np.zeros((0, encoder.dim), np.float32)


def scores(
    truth: Sequence[str] | npt.NDArray[np.str_], predicted: Sequence[str] | npt.NDArray[np.str_]
) -> dict[str, float]:
    """n, accuracy and macro-F1."""
    return {
        "n": float(len(truth)),
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "macro_f1": round(float(f1_score(truth, predicted, average="macro", zero_division=0)), 4),
    }


@dataclass(frozen=True)
class HeadReport:
    """What one head was trained on and how it scores on the dev splits."""

    train_rows: dict[str, int]
    classes: tuple[str, ...]
    strength: float
    metrics: dict[str, dict[str, float]]


def _expected_error(model: LogisticRegression, x: Features, y: Sequence[str]) -> float:
    stars = np.array([float(c) for c in model.classes_])
    expected = model.predict_proba(x) @ stars
    return float(np.abs(expected - np.array([float(v) for v in y])).mean())


def _tolerance(x_train: Features) -> float:
    """L-BFGS's stopping tolerance: looser over 2^18 n-gram columns, where the default
    took over ten times as many iterations for the same dev figures (eval/lexical.py)."""
    return 1e-3 if issparse(x_train) else 1e-4


def _weights(coef: npt.NDArray[np.float64], x_train: Features) -> Weights:
    """The fitted weights, sparse when the features are (lexical heads: most are zero)."""
    dense = np.asarray(coef, np.float32)
    return csr_matrix(dense) if issparse(x_train) else dense


def fit_temperature(head: LinearHead, x_dev: Features, y_dev: Sequence[str]) -> float:
    """The temperature that minimises the dev log-loss (calibration, not accuracy)."""
    index = {c: i for i, c in enumerate(head.classes)}
    rows = np.arange(len(y_dev))
    truth = np.array([index[y] for y in y_dev])
    best_t, best_loss = 1.0, float("inf")
    for t in TEMPERATURES:
        probs = head.scaled(1.0 / t).predict_proba(x_dev)
        loss = float(-np.log(np.maximum(probs[rows, truth], 1e-12)).mean())
        if loss < best_loss:
            best_t, best_loss = float(t), loss
    return best_t


def fit_head(
    x_train: Features,
    y_train: Sequence[str],
    x_dev: Features,
    y_dev: Sequence[str],
    dev_groups: Sequence[str],
    ordinal: bool = False,
    sample_weight: Sequence[float] | None = None,
) -> tuple[LinearHead, float, dict[str, dict[str, float]]]:
    """Fit at each strength and keep the best on dev, then calibrate a temperature on dev.

    Class heads are tuned for dev macro-F1 with balanced class weights; an
    ordinal (star) head keeps the class priors and is tuned for the mean error
    of its expected value. ``sample_weight`` weighs the training rows (default: alike).
    Returns the head, the strength, and dev figures overall and per group.
    """
    best: tuple[float, float, LogisticRegression] | None = None
    for strength in tqdm(STRENGTHS, desc="tuning", unit="fit", leave=False):
        model = LogisticRegression(
            class_weight=None if ordinal else "balanced",
            max_iter=3000,
            C=strength,
            tol=_tolerance(x_train),
        )
        model.fit(x_train, y_train, sample_weight=sample_weight)
        if ordinal:
            score = -_expected_error(model, x_dev, y_dev)
        else:
            score = float(f1_score(y_dev, model.predict(x_dev), average="macro", zero_division=0))
        if best is None or score > best[0]:
            best = (score, strength, model)
    assert best is not None
    _, strength, model = best
    predicted = model.predict(x_dev)
    truth = np.array(y_dev)
    majority = Counter(y_train).most_common(1)[0][0]
    metrics = {
        "dev": scores(truth, predicted),
        "majority_baseline": scores(truth, [majority] * len(truth)),
    }
    groups = np.array(dev_groups)
    for group in sorted(set(groups)):
        mask = groups == group
        metrics[group] = scores(truth[mask], predicted[mask])
    if ordinal:
        metrics["dev"]["expected_mae"] = round(_expected_error(model, x_dev, y_dev), 4)
    head = LinearHead(
        classes=tuple(str(c) for c in model.classes_),
        weights=_weights(model.coef_, x_train),
        bias=model.intercept_.astype(np.float32),
    )
    temperature = fit_temperature(head, x_dev, y_dev)
    metrics["dev"]["temperature"] = temperature
    return head.scaled(1.0 / temperature), strength, metrics


def fit_ordinal(
    x_train: Features,
    y_train: Sequence[str],
    x_dev: Features,
    y_dev: Sequence[str],
    dev_groups: Sequence[str],
    order: Sequence[str],
    sample_weight: Sequence[float] | None = None,
) -> tuple[OrdinalHead, float, dict[str, dict[str, float]]]:
    """Cumulative binary models P(y > k), one per threshold, tuned on dev macro-F1.

    ``sample_weight`` weighs the training rows (default: alike).
    Returns the head, the strength and dev figures (with exact-or-adjacent accuracy).
    """
    rank = {c: i for i, c in enumerate(order)}
    y_rank = np.array([rank[y] for y in y_train])
    best: tuple[float, float, OrdinalHead] | None = None
    for strength in tqdm(STRENGTHS, desc="tuning", unit="fit", leave=False):
        weights, biases = [], []
        for k in range(1, len(order)):
            above = (y_rank >= k).astype(int)
            model = LogisticRegression(
                class_weight="balanced", max_iter=3000, C=strength, tol=_tolerance(x_train)
            )
            model.fit(x_train, above, sample_weight=sample_weight)
            weights.append(model.coef_[0])
            biases.append(model.intercept_[0])
        head = OrdinalHead(
            tuple(order), _weights(np.array(weights), x_train), np.array(biases, np.float32)
        )
        predicted = np.array(order)[head.predict_proba(x_dev).argmax(1)]
        score = float(f1_score(y_dev, predicted, average="macro", zero_division=0))
        if best is None or score > best[0]:
            best = (score, strength, head)
    assert best is not None
    _, strength, head = best
    predicted = np.array(order)[head.predict_proba(x_dev).argmax(1)]
    truth = np.array(y_dev)
    majority = Counter(y_train).most_common(1)[0][0]
    metrics = {
        "dev": scores(truth, predicted),
        "majority_baseline": scores(truth, [majority] * len(truth)),
    }
    metrics["dev"]["adjacent"] = round(
        float(
            np.mean([abs(rank[a] - rank[b]) <= 1 for a, b in zip(truth, predicted, strict=True)])
        ),
        4,
    )
    groups = np.array(dev_groups)
    for group in sorted(set(groups)):
        mask = groups == group
        metrics[group] = scores(truth[mask], predicted[mask])
    return head, strength, metrics


def best_threshold(head: LinearHead, x_dev: Features, y_dev: Sequence[str]) -> float:
    """The probability of ``yes`` above which F1 of ``yes`` is highest on dev."""
    yes = head.classes.index("yes")
    p = head.predict_proba(x_dev)[:, yes]
    truth = np.array(y_dev) == "yes"
    best = (0.0, 0.5)
    for threshold in np.linspace(0.05, 0.95, 91):
        guess = p >= threshold
        tp = float((guess & truth).sum())
        f1 = 2 * tp / max(1.0, float(guess.sum() + truth.sum()))
        if f1 > best[0]:
            best = (f1, float(threshold))
    return round(best[1], 3)


def _trains_a_head(example: Example, specs: Sequence[HeadSpec]) -> bool:
    return any(spec.target(example) is not None for spec in specs)


def _capped(examples: list[Example], cap: int | None, seed: int) -> list[Example]:
    if cap is None or len(examples) <= cap:
        return examples
    return random.Random(seed).sample(examples, cap)


def _card(
    spec: HeadSpec, version: str, encoder: str, report: HeadReport, sources: str, trained: str
) -> str:
    lines = [
        f"# {spec.name} head, {version}",
        "",
        f"- Purpose: {spec.purpose}",
        f"- Trained: {trained} by `langnghe train`, seed {SEED}",
        f"- Encoder: {encoder} (frozen); multinomial logistic regression, "
        + (
            "class priors kept, C chosen on the dev splits for the mean error of the expected stars"
            if spec.ordinal
            else "balanced class weights, C chosen on the dev splits for macro-F1"
        )
        + f" (C={report.strength}); probabilities calibrated by a temperature fitted on the "
        f"dev log-loss (T={report.metrics['dev']['temperature']:.2f}). No early stopping: the "
        "model is convex and solved to convergence; the strength plays that part.",
        f"- Classes: {', '.join(report.classes)}",
        "- Training rows per set (Vietnamese rows also train in a copy without diacritics): "
        + ", ".join(f"{k} {v}" for k, v in sorted(report.train_rows.items())),
        *(
            [
                "- Row weights in the fit: "
                + ", ".join(f"{k} x{v:g}" for k, v in sorted(spec.set_weights.items()))
                + " (every other set x1)"
            ]
            if spec.set_weights
            else []
        ),
        *(
            [f"- Sets not used for this head: {', '.join(spec.skip_sets)}"]
            if spec.skip_sets
            else []
        ),
        f"- Data and licences: {sources}. Public sets are research-use or unstated licences: "
        "retrain on your own data (`langnghe train`) for commercial use.",
        "- Intended use: triage of Vietnamese and English customer feedback. Limits: domains "
        "differ from yours; weak labels where noted in nlp/training/corpora.py; "
        "see `langnghe eval`.",
        "",
        "Dev-split figures (`unaccented` rows: Vietnamese dev rows with diacritics stripped):",
        "",
        "| split | n | accuracy | macro-F1 |",
        "|---|---|---|---|",
    ]
    for name, s in report.metrics.items():
        lines.append(f"| {name} | {int(s['n'])} | {s['accuracy']:.3f} | {s['macro_f1']:.3f} |")
    return "\n".join(lines) + "\n"


SOURCES_NOTE = (
    "our hand-written seed set (models/data/seed.jsonl, GPL-3.0-or-later) and, where given, "
    "the public sets listed in ../shared/datasets/README.md"
)


def _train_aspects(
    train: list[Example],
    x_train: Embeddings,
    dev: list[Example],
    x_dev: Embeddings,
    out: Path,
    version: str,
    encoder: str,
) -> dict[str, Any]:
    """One aspect model per domain that has both train and dev rows labelled with aspects."""
    entries: dict[str, Any] = {}
    dev_groups = aspect_training.by_domain(dev)
    for domain, train_idx in sorted(aspect_training.by_domain(train).items()):
        dev_idx = dev_groups.get(domain)
        if not dev_idx:
            tqdm.write(f"aspects {domain}: no dev rows, not trained")
            continue
        model, report = aspect_training.train_domain(
            domain,
            [train[i] for i in train_idx],
            x_train[train_idx],
            [dev[i] for i in dev_idx],
            x_dev[dev_idx],
        )
        path = aspect_training.save_domain(model, out)
        card_path = path.with_suffix(".md")
        card_path.write_text(
            aspect_training.card(report, version, encoder, version.split("-seed")[0]),
            encoding="utf-8",
        )
        entries[domain] = {
            "version": f"aspects-{domain}-{version}",
            "path": str(path.relative_to(out)),
            "card": str(card_path.relative_to(out)),
            "aspects": list(model.aspects),
            "metrics": {"dev": report.dev, "dev_aspect_only": report.dev_aspect_only},
        }
        tqdm.write(f"aspects {domain}: dev {report.dev}")
    return entries


def _selected(heads: Sequence[str] | None, out: Path) -> tuple[list[str], dict[str, Any]]:
    """The heads to train and the manifest they join (a fresh one when training all)."""
    every = [*HEADS, *OPTIONAL_HEADS]
    if heads is None:
        return every, {"heads": {}}
    unknown = sorted(set(heads) - set(every))
    if unknown:
        raise ValueError(f"unknown heads {unknown}; choose from {every}")
    if not (out / MANIFEST).exists():
        raise ValueError(f"{out / MANIFEST} does not exist: train every head there first")
    manifest: dict[str, Any] = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    kept_lexical = [
        n
        for n, e in manifest["heads"].items()
        if n not in heads and "lexical" in e.get("features", ())
    ]
    if kept_lexical and any("lexical" in SPECS[n].features for n in heads):
        raise ValueError(
            f"the n-gram weighting is refitted with these heads; retrain {kept_lexical} with them"
        )
    return [n for n in every if n in heads], manifest


def marks_for(out: Path) -> tuple[MarkModel | None, dict[str, Any] | None]:
    """The mark model heads trained into ``out`` read text through, and its manifest entry:
    the one ``out``'s manifest names, else the shipped one (copied into ``out``)."""
    for root in (out, MODELS_DIR):
        manifest = load_manifest(root) if (root / MANIFEST).is_file() else {}
        entry = manifest.get("marks")
        if entry and (root / entry["path"]).is_file():
            if root != out:
                (out / entry["path"]).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(root / entry["path"], out / entry["path"])
            return load_marks(manifest, out), dict(entry)
    return None, None


def train_all(
    data: Sequence[Path],
    out: Path,
    encoder: Encoder,
    max_per_set: int | None = 4000,
    heads: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Train the heads (every one, or those named in ``heads``, keeping the others of the
    manifest in ``out``) on the labelled sets in ``data``; write heads, cards and manifest.
    Aspect models are trained when every head is."""
    names, previous = _selected(heads, out)
    specs = [SPECS[n] for n in names]
    corpora: list[Corpus] = discover(data)
    train = [e for c in corpora for e in _capped(c.train, max_per_set, SEED)]
    dev = [e for c in corpora for e in _capped(c.dev, max_per_set, SEED)]
    if heads is not None:  # only what the named heads read needs encoding
        train = [e for e in train if _trains_a_head(e, specs)]
        dev = [e for e in dev if _trains_a_head(e, specs)]
    # Only rows that train a head get a copy without diacritics; aspect models train on rows as
    # written, and long aspect-labelled reviews are the costliest texts to encode.
    train_copies = [
        (i, c)
        for i, e in enumerate(train)
        if _trains_a_head(e, specs) and (c := unaccented_copy(e))
    ]
    dev_copies = [
        (i, c) for i, e in enumerate(dev) if _trains_a_head(e, specs) and (c := unaccented_copy(e))
    ]
    marks, marks_entry = marks_for(out)
    x_train = embed(encoder, train + [c for _, c in train_copies], "encoding train", marks)
    x_dev = embed(encoder, dev + [c for _, c in dev_copies], "encoding dev", marks)
    train_all_rows = train + [c for _, c in train_copies]
    dev_all_rows = dev + [c for _, c in dev_copies]
    dev_groups = [f"{e.set_name}/{e.lang}" for e in dev] + [
        f"{e.set_name}/unaccented" for _, e in dev_copies
    ]

    trained = datetime.now(UTC).strftime("%Y-%m-%d")
    version = f"{trained}-seed{SEED}"
    if heads is not None and previous.get("encoder") != encoder.name:
        raise ValueError(
            f"the heads in {out} were trained on {previous.get('encoder')!r}, not on "
            f"{encoder.name!r}: train every head"
        )
    manifest: dict[str, Any] = {
        "schema": 1,
        "encoder": encoder.name,
        "heads": {n: e for n, e in previous["heads"].items() if n not in names},
    }
    if marks_entry is not None:
        manifest["marks"] = marks_entry
    lexical_rows = sorted(
        {
            i
            for spec in specs
            if "lexical" in spec.features
            for i, e in enumerate(train_all_rows)
            if spec.target(e) is not None
        }
    )
    lexical = None
    if lexical_rows:
        lexical = CharNgrams.fit(serving_texts([train_all_rows[i] for i in lexical_rows]))
        lexical.save(out / LEXICAL_FILE)
        manifest["lexical"] = {"version": LEXICAL_VERSION, "path": LEXICAL_FILE}
    elif "lexical" in previous:
        manifest["lexical"] = previous["lexical"]
    for spec in specs:
        name = spec.name
        train_idx = [i for i, e in enumerate(train_all_rows) if spec.target(e) is not None]
        dev_idx = [i for i, e in enumerate(dev_all_rows) if spec.target(e) is not None]
        if name in OPTIONAL_HEADS and (
            not dev_idx or len({spec.target(train_all_rows[i]) for i in train_idx}) < 2
        ):
            tqdm.write(f"{name}: no labelled rows, not trained (the cue rules decide)")
            continue
        if not train_idx or not dev_idx:
            raise ValueError(f"no row in {[str(d) for d in data]} labels the {name} head")
        x_tr = text_features(
            x_train[train_idx],
            serving_texts([train_all_rows[i] for i in train_idx]),
            spec.features,
            lexical,
        )
        x_dv = text_features(
            x_dev[dev_idx],
            serving_texts([dev_all_rows[i] for i in dev_idx]),
            spec.features,
            lexical,
        )
        y_tr = [spec.target(train_all_rows[i]) or "" for i in train_idx]
        y_dv = [spec.target(dev_all_rows[i]) or "" for i in dev_idx]
        w_tr = [spec.weight(train_all_rows[i]) for i in train_idx] if spec.set_weights else None
        extra: dict[str, Any] = {}
        head: LinearHead
        if spec.order:
            head, strength, metrics = fit_ordinal(
                x_tr,
                y_tr,
                x_dv,
                y_dv,
                [dev_groups[i] for i in dev_idx],
                spec.order,
                sample_weight=w_tr,
            )
            metrics["dev"]["temperature"] = 1.0
        else:
            head, strength, metrics = fit_head(
                x_tr,
                y_tr,
                x_dv,
                y_dv,
                [dev_groups[i] for i in dev_idx],
                ordinal=spec.ordinal,
                sample_weight=w_tr,
            )
        if name == "churn":
            extra["threshold"] = best_threshold(head, x_dv, y_dv)
        counts: dict[str, int] = defaultdict(int)
        for i in train_idx:
            counts[train_all_rows[i].set_name] += 1
        report = HeadReport(dict(counts), head.classes, strength, metrics)
        head.save(out / name / "head.npz")
        (out / name / "CARD.md").write_text(
            _card(spec, version, encoder.name, report, SOURCES_NOTE, trained), encoding="utf-8"
        )
        manifest["heads"][name] = {
            "version": f"{name}-{version}",
            "path": f"{name}/head.npz",
            "card": f"{name}/CARD.md",
            "classes": list(head.classes),
            "features": list(spec.features),
            "trained_on": dict(counts),
            "metrics": metrics,
            **extra,
        }
        tqdm.write(f"{name}: dev {metrics['dev']}")
    manifest["aspects"] = (
        _train_aspects(train, x_train, dev, x_dev, out, version, encoder.name)
        if heads is None
        else previous.get("aspects", {})
    )
    (out / MANIFEST).write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return manifest
