"""Our labelling tools: draw rows to label, and measure how well two labellers agree.

``python -m nlp.training.labelset draw --lang vi --category support_responsiveness -n 60``
prints up to 60 unlabelled rows (JSONL: ``set``, ``id``, ``lang``, ``text``) whose text
mentions one of the category's cue words, drawn at random (seeded) from the sources' negative
rows, skipping every row already labelled. The texts go to the labeller's screen or a scratch
file, never into the repository: a label row keeps only ``set`` and ``id``
(models/data/LABELLING.md). A cue word only *enriches* the draw; the label is what the text
says, and a drawn row often belongs to another category or is no complaint at all.

``python -m nlp.training.labelset agreement`` compares ``blind.jsonl`` (the second labels of
a random 10%) with the first labels and writes Cohen's kappa per label to ``AGREEMENT.md``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from nlp.text import strip_diacritics
from nlp.training.corpora import SEVERITIES, read_jsonl, read_label_rows
from nlp.types import COMPLAINT_CATEGORIES

# Cue words per language and category, lower case; Vietnamese ones without diacritics, since
# texts are matched both as written and stripped (many reviews are typed without them).
CUES: dict[str, dict[str, tuple[str, ...]]] = {
    "vi": {
        "delivery": ("giao hang", "shipper", "van chuyen", "dong goi", "giao thieu", "giao nham"),
        "product_quality": ("loi", "hong", "kem chat luong", "khong giong hinh", "do an"),
        "price_billing": ("gia", "dat qua", "tien", "phi", "voucher", "thanh toan", "tru tien"),
        "staff_attitude": ("thai do", "nhan vien", "le tan", "phuc vu", "khong lich su"),
        "support_responsiveness": (
            "khong tra loi",
            "nhan tin",
            "inbox",
            "tong dai",
            "khong phan hoi",
            "rep",
            "lien he",
            "bao hanh",
        ),
        "app_website": ("app", "ung dung", "website", "web", "dang nhap", "tai khoan", "lazada"),
        "refund_return": ("hoan tien", "doi tra", "tra hang", "doi hang", "bao hanh", "hoan lai"),
        "other": ("xa trung tam", "on ao", "quang cao", "chinh sach", "vi tri", "khu vuc"),
    },
    "en": {
        "delivery": ("delivery", "arrived", "late", "delayed", "shipping", "package"),
        "product_quality": ("broken", "defective", "stopped working", "quality", "faulty"),
        "price_billing": (
            "charged",
            "charge",
            "fee",
            "price",
            "bill",
            "overcharg",
            "expensive",
            "payment",
            "refund my",
        ),
        "staff_attitude": ("rude", "attitude", "staff", "agent was", "employee", "manager"),
        "support_responsiveness": ("on hold", "no response", "no reply", "call back", "waiting"),
        "app_website": ("app", "website", "log in", "login", "account", "site", "online"),
        "refund_return": ("refund", "return", "exchange", "warranty", "money back"),
        "other": ("policy", "policies", "loyalty", "rules", "points", "advert", "location"),
    },
}
"""Keys are the taxonomy's categories (checked below); values are plain substrings, so the
match is linear in the text whatever it holds."""

assert all(set(cues) == set(COMPLAINT_CATEGORIES) for cues in CUES.values())

LEAVING: dict[str, tuple[str, ...]] = {
    "vi": (
        "khong mua nua",
        "lan cuoi",
        "chuyen sang",
        "khong quay lai",
        "khong bao gio",
        "tam biet",
        "xoa app",
        "huy don",
        "bo shop",
        "mua cho khac",
        "shop khac",
        "ne xa",
    ),
    "en": (
        "switch",
        "cancel my",
        "cancelling my",
        "cancel our",
        "never again",
        "never fly",
        "last time",
        "done with",
        "leaving",
        "elsewhere",
        "competitor",
        "my business",
        "close my account",
        "unsubscrib",
        "never use",
        "never buy",
        "going back to",
    ),
}
"""Words of leaving, for ``--category churn``: wider than the cue list the churn head reads
(nlp.components.cues), so the draw also finds the ways of saying it the cues miss."""


SOURCES = (
    "aivivn-2019",
    "uit-visfd",
    "vlsp2018-absa",
    "twitter-complaints",
    "twitter-airline",
    "amazon-alexa",
)
"""The public sets we label from (LABELLING.md); UIT-VSFC is students on their courses."""

LABELS = ("complaint", "category", "churn_risk", "severity")


def labelled_keys(label_files: Iterable[Path]) -> set[tuple[str, str]]:
    """The (set, id) of every row already labelled (or skipped) in ``label_files``."""
    return {(str(r["set"]), str(r["id"])) for path in label_files for r in read_label_rows(path)}


def _rows(datasets: Path, sets: Iterable[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name in sets:
        for split in ("train.jsonl", "dev.jsonl"):
            if (datasets / name / split).is_file():
                for row in read_jsonl(datasets / name / split):
                    yield name, row


def negative(row: dict[str, Any]) -> bool:
    """Whether the source does not call the row positive (its sentiment, stars, rating, or
    aspects: a review whose aspects are all positive or neutral is no complaint)."""
    stars = row.get("stars", row.get("rating"))
    if isinstance(stars, int | float) and stars >= 4:
        return False
    aspects = row.get("aspects")
    if (
        isinstance(aspects, list)
        and aspects
        and stars is None
        and not any(isinstance(a, dict) and a.get("polarity") == "negative" for a in aspects)
    ):
        return False
    return row.get("sentiment") != "positive" and row.get("complaint") is not False


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def matches(text: str, cues: Iterable[str]) -> bool:
    """Whether ``text`` (as written or without diacritics, lower case) holds one of ``cues``."""
    lowered = text.lower()
    stripped = strip_diacritics(lowered)
    return any(cue in lowered or cue in stripped for cue in cues)


def draw(
    datasets: Path,
    lang: str,
    category: str,
    n: int,
    *,
    exclude: set[tuple[str, str]],
    sets: Iterable[str] = SOURCES,
    seed: int = 13,
) -> list[dict[str, Any]]:
    """Up to ``n`` unlabelled negative rows of ``lang`` carrying a cue of ``category``
    (``"churn"``: a word of leaving, :data:`LEAVING`)."""
    cues = LEAVING.get(lang) if category == "churn" else CUES.get(lang, {}).get(category)
    if cues is None:
        raise ValueError(f"no cues for language {lang!r} and category {category!r}")
    rows = list(_rows(datasets, sets))
    # A text the sets hold twice under two ids is labelled once: a copy of a test row in
    # training would leak it.
    seen = {_normal(str(r["text"])) for name, r in rows if (name, str(r["id"])) in exclude}
    pool = []
    for name, row in rows:
        text = str(row["text"])
        key = _normal(text)
        if (
            row.get("lang") == lang
            and (name, str(row["id"])) not in exclude
            and key not in seen
            and negative(row)
            and matches(text, cues)
        ):
            seen.add(key)
            pool.append({"set": name, "id": str(row["id"]), "lang": lang, "text": text})
    random.Random(f"{seed}:{lang}:{category}").shuffle(pool)
    return pool[:n]


def _value(row: dict[str, Any], label: str) -> str:
    return str(row.get(label)) if row.get(label) is not None else "none"


def agreement(first: list[dict[str, Any]], second: list[dict[str, Any]]) -> dict[str, Any]:
    """Cohen's kappa per label over the rows both labelled (skipped rows left out)."""
    from sklearn.metrics import cohen_kappa_score

    by_key = {(r["set"], r["id"]): r for r in first if not r.get("skip")}
    pairs = [(by_key[(r["set"], r["id"])], r) for r in second if (r["set"], r["id"]) in by_key]
    pairs = [(a, b) for a, b in pairs if not b.get("skip")]
    out: dict[str, Any] = {"n": len(pairs)}
    for label in LABELS:
        a = [_value(x, label) for x, _ in pairs]
        b = [_value(y, label) for _, y in pairs]
        out[label] = float(cohen_kappa_score(a, b))
    near = [
        abs(SEVERITIES.index(x["severity"]) - SEVERITIES.index(y["severity"])) <= 1
        for x, y in pairs
        if x.get("severity") in SEVERITIES and y.get("severity") in SEVERITIES
    ]
    out["severity_adjacent"] = sum(near) / len(near) if near else float("nan")
    return out


def agreement_markdown(figures: dict[str, Any]) -> str:
    """The AGREEMENT.md text for ``figures`` (from :func:`agreement`)."""
    rows = "\n".join(f"| {label} | {figures[label]:.3f} |" for label in LABELS)
    return (
        "# Agreement between two labellers\n\n"
        "Written by `python -m nlp.training.labelset agreement` from `blind.jsonl` (a random\n"
        "10% of the rows labelled again, blind) and the first labels. Cohen's kappa per label\n"
        f"over the {figures['n']} rows both labelled; a missing category counts as a value.\n"
        + (
            f"{figures['labelled']} rows are labelled in all: rows labelled after the last blind\n"
            "round have no second label yet.\n\n"
            if "labelled" in figures
            else "\n"
        )
        + "| label | Cohen's kappa |\n|---|---|\n"
        f"{rows}\n\n"
        f"Severity exact-or-adjacent: {figures['severity_adjacent']:.3f}.\n"
        + "".join(
            f"\nSecond labeller {name} ({part['n']} rows): "
            + ", ".join(f"{label} {part[label]:.3f}" for label in LABELS)
            + ".\n"
            for name, part in figures.get("by_labeller", {}).items()
        )
    )


def main(argv: list[str] | None = None) -> int:
    """``draw`` prints rows to label as JSONL; ``agreement`` writes AGREEMENT.md."""
    here = Path(__file__).resolve().parents[2]
    labels_dir = here / "models" / "data" / "labels"
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    drawing = commands.add_parser("draw", help="print unlabelled rows to label (JSONL)")
    drawing.add_argument("--datasets", type=Path, default=here.parent / "shared" / "datasets")
    drawing.add_argument("--lang", required=True, choices=sorted(CUES))
    drawing.add_argument(
        "--category",
        required=True,
        choices=[*sorted(COMPLAINT_CATEGORIES), "churn"],
        help="a category's cue words, or churn: words of leaving",
    )
    drawing.add_argument("-n", type=int, default=60, help="rows at most")
    drawing.add_argument("--sets", nargs="+", default=list(SOURCES), help="public sets to draw")
    drawing.add_argument("--seed", type=int, default=13)
    commands.add_parser("agreement", help=f"write {labels_dir / 'AGREEMENT.md'}")
    args = parser.parse_args(argv)
    if args.command == "agreement":
        first = [
            r for path in sorted(labels_dir.glob("*.labels.jsonl")) for r in read_label_rows(path)
        ]
        second = list(read_label_rows(labels_dir / "blind.jsonl"))
        figures = agreement(first, second)
        figures["labelled"] = sum(1 for r in first if not r.get("skip"))
        # Per second labeller too: rounds relabelled by different people read differently.
        figures["by_labeller"] = {
            name: agreement(first, [r for r in second if r.get("labeller") == name])
            for name in sorted({str(r.get("labeller")) for r in second})
        }
        (labels_dir / "AGREEMENT.md").write_text(agreement_markdown(figures), encoding="utf-8")
        sys.stdout.write(json.dumps(figures) + "\n")
        return 0
    if not args.datasets.is_dir():
        parser.error(f"no public sets at {args.datasets} (pass --datasets)")
    exclude = labelled_keys(sorted(labels_dir.glob("*.jsonl")))
    for row in draw(
        args.datasets,
        args.lang,
        args.category,
        args.n,
        exclude=exclude,
        sets=args.sets,
        seed=args.seed,
    ):
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
