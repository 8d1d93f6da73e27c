"""Labelled feedback for training and evaluation, mapped onto langnghe's label spaces.

Reads JSONL in the shape of ``../shared/datasets`` (and of user files): ``text``,
``lang`` and any of ``sentiment``, ``complaint``, ``category``, ``stars``/``rating``,
``aspects``, ``severity``, ``churn_risk``. A directory of sets holds one folder
per set with ``train.jsonl`` and, where the source has one, ``dev.jsonl``; sets without
a dev file get a deterministic 20% dev split by hashed row id, so every run splits alike.

Source labels that differ from ours are mapped here, in one place, so the
model cards can say exactly what each head learned from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nlp.types import COMPLAINT_CATEGORIES

# Twitter US Airline complaint reasons onto our taxonomy; "Can't Tell" carries no category.
AIRLINE_REASONS = {
    "Customer Service Issue": "support_responsiveness",
    "Late Flight": "delivery",
    "Cancelled Flight": "delivery",
    "Lost Luggage": "delivery",
    "Damaged Luggage": "product_quality",
    "Bad Flight": "product_quality",
    "Flight Booking Problems": "app_website",
    "Flight Attendant Complaints": "staff_attitude",
    "longlines": "support_responsiveness",
}
# UIT-ViSFD smartphone aspects, when negative in a 1-2 star review, onto our taxonomy.
VISFD_ASPECTS = {
    "PRICE": "price_billing",
    "SER&ACC": "support_responsiveness",
    "BATTERY": "product_quality",
    "CAMERA": "product_quality",
    "PERFORMANCE": "product_quality",
    "SCREEN": "product_quality",
    "DESIGN": "product_quality",
    "FEATURES": "product_quality",
    "STORAGE": "product_quality",
}
SENTIMENTS = ("negative", "neutral", "positive")
SEVERITIES = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class Example:
    """One labelled text; a label is None where the source does not give it."""

    set_name: str
    id: str
    text: str
    lang: str
    channel: str = "review"
    domain: str | None = None
    sentiment: str | None = None
    complaint: bool | None = None
    category: str | None = None
    stars: int | None = None
    aspects: tuple[tuple[str, str], ...] = ()
    severity: str | None = None
    churn_risk: bool | None = None
    secondary: tuple[str, ...] = ()
    """Other complaint categories the text also reports (our labels only)."""


@dataclass(frozen=True)
class Corpus:
    """One labelled set, split into train and dev (and a test split nothing is tuned on)."""

    name: str
    train: list[Example]
    dev: list[Example]
    test: list[Example] = field(default_factory=list)


def _category(set_name: str, row: dict[str, Any]) -> str | None:
    raw = row.get("category")
    if raw in COMPLAINT_CATEGORIES:
        return str(raw)
    if set_name == "twitter-airline" and raw in AIRLINE_REASONS:
        return AIRLINE_REASONS[raw]
    if set_name == "uit-visfd" and (row.get("stars") or 5) <= 2:
        negatives = {
            VISFD_ASPECTS[a["aspect"]]
            for a in row.get("aspects") or []
            if a.get("polarity") == "negative" and a.get("aspect") in VISFD_ASPECTS
        }
        if len(negatives) == 1:
            return negatives.pop()
    return None


def _complaint(set_name: str, row: dict[str, Any], category: str | None) -> bool | None:
    if isinstance(row.get("complaint"), bool):
        return bool(row["complaint"])
    if set_name == "twitter-airline" and row.get("sentiment") in SENTIMENTS:
        # A negative tweet with a concrete reason reports a problem; praise and neutral don't.
        if row["sentiment"] == "negative":
            return True if row.get("category") not in (None, "Can't Tell") else None
        return False
    if set_name == "uit-visfd" and row.get("stars") is not None:
        # Weak labels: a 1-2 star phone review reports a problem, a 4-5 star one does not.
        return True if row["stars"] <= 2 else (False if row["stars"] >= 4 else None)
    if set_name == "aivivn-2019" and row.get("sentiment") in ("negative", "positive"):
        # Weak labels: negative product comments in this set are complaints about the product.
        return row["sentiment"] == "negative"
    if category is not None:
        return True
    return None


def to_example(set_name: str, row: dict[str, Any]) -> Example:
    """Map one source row onto our labels."""
    stars = row.get("stars", row.get("rating"))
    category = _category(set_name, row)
    complaint = _complaint(set_name, row, category)
    sentiment = row.get("sentiment")
    return Example(
        set_name=set_name,
        id=str(row.get("id") or row["text"]),
        text=str(row["text"]),
        lang=str(row.get("lang") or "?"),
        channel=str(row.get("channel") or "review"),
        domain=str(row["domain"]) if row.get("domain") else None,
        sentiment=sentiment if sentiment in SENTIMENTS else None,
        complaint=complaint,
        category=category if complaint else None,
        stars=int(stars) if isinstance(stars, int | float) and 1 <= stars <= 5 else None,
        aspects=tuple((str(a["aspect"]), str(a["polarity"])) for a in row.get("aspects") or []),
        severity=row["severity"] if row.get("severity") in SEVERITIES else None,
        churn_risk=row["churn_risk"] if isinstance(row.get("churn_risk"), bool) else None,
        secondary=tuple(c for c in row.get("secondary") or () if c in COMPLAINT_CATEGORIES),
    )


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSONL file, with a clear error naming any bad line."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from exc
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise ValueError(f"{path}:{number}: each line needs a string 'text'")
            yield row


def in_dev_split(example_id: str) -> bool:
    """Deterministic 20% dev split by hashed id, for sets that ship without one.

    The same rows are the test split of our own labels (``*.labels.jsonl``), so a
    labelled test row is never a training row of its source set either.
    """
    return hashlib.sha1(example_id.encode()).digest()[0] % 5 == 0


def _in_label_dev(example_id: str) -> bool:
    """15% of the non-test labelled rows, for tuning (salted: independent of the test split)."""
    return hashlib.sha1(b"labels-dev:" + example_id.encode()).digest()[0] % 20 < 3


LABELS_SUFFIX = ".labels.jsonl"


def load_labels(path: Path, texts: dict[tuple[str, str], dict[str, Any]]) -> Corpus:
    """Our labels (ids, no texts) joined to their source rows; a fixed 20% test split.

    ``texts`` maps (set, id) to the source row. Each label row names its ``set`` and
    ``id``; rows marked ``skip`` (unintelligible text) are left out. Test rows are those
    of :func:`in_dev_split`; 15% of the others tune.
    """
    name = path.name[: -len(LABELS_SUFFIX)]
    rows = []
    for number, label in enumerate(read_label_rows(path), start=1):
        if label.get("skip"):
            continue
        key = (str(label.get("set")), str(label.get("id")))
        source = texts.get(key)
        if source is None:
            raise ValueError(
                f"{path}:{number}: no row {key[1]!r} in set {key[0]!r}; pass the folder of "
                "the public sets with --data (e.g. ../shared/datasets)"
            )
        example = to_example(name, {**label, "text": source["text"]})
        rows.append(replace(example, channel=str(source.get("channel") or "review")))
    test = [e for e in rows if in_dev_split(e.id)]
    rest = [e for e in rows if not in_dev_split(e.id)]
    return Corpus(
        name,
        [e for e in rest if not _in_label_dev(e.id)],
        [e for e in rest if _in_label_dev(e.id)],
        test,
    )


def read_label_rows(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a labels file (rows carry ``set`` and ``id``, no text)."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row, dict) or not row.get("set") or not row.get("id"):
                raise ValueError(f"{path}:{number}: each label row needs 'set' and 'id'")
            yield row


def load_corpus(name: str, train: Path, dev: Path | None = None) -> Corpus:
    """A set from its train file and optional dev file."""
    train_rows = [to_example(name, r) for r in read_jsonl(train)]
    if dev is not None:
        return Corpus(name, train_rows, [to_example(name, r) for r in read_jsonl(dev)])
    return Corpus(
        name,
        [e for e in train_rows if not in_dev_split(e.id)],
        [e for e in train_rows if in_dev_split(e.id)],
    )


def discover(paths: Iterable[Path]) -> list[Corpus]:
    """Corpora from files (one set each) and directories (one set per sub-folder).

    A ``NAME.labels.jsonl`` file holds labels without texts (our own labelling of public
    rows, see models/data/LABELLING.md): its rows are joined to the sets found in the
    directories among ``paths``.
    """
    found = []
    label_files = []
    for path in paths:
        if path.is_file() and path.name.endswith(LABELS_SUFFIX):
            label_files.append(path)
            continue
        if path.is_file():
            found.append(load_corpus(path.stem, path))
            continue
        if not path.is_dir():
            raise FileNotFoundError(f"no labelled data at {path}")
        folders = [path] if (path / "train.jsonl").is_file() else sorted(path.iterdir())
        for folder in (f for f in folders if (f / "train.jsonl").is_file()):
            dev = folder / "dev.jsonl"
            found.append(
                load_corpus(folder.name, folder / "train.jsonl", dev if dev.is_file() else None)
            )
    if label_files:
        texts = {
            (c.name, e.id): {"text": e.text, "channel": e.channel}
            for c in found
            for e in (*c.train, *c.dev)
        }
        labelled = [load_labels(path, texts) for path in label_files]
        # A labelled test row must not train any head through its source set either.
        held = {e.id for c in labelled for e in c.test}
        found = [replace(c, train=[e for e in c.train if e.id not in held]) for c in found]
        found += labelled
    return found
