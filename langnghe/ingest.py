"""Bulk loading a CSV or JSONL file through the same validation as the API."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from api.schemas import FeedbackIn
from api.service import text_too_large

FIELDS = set(FeedbackIn.model_fields)


@dataclass
class IngestSummary:
    """What happened to each row of the file."""

    accepted: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def reject(self, line: int, reason: str) -> None:
        """Count a refused row, keeping the first few reasons to show."""
        self.rejected[reason.split(":")[0]] += 1
        if len(self.examples) < 20:
            self.examples.append(f"row {line}: {reason}")


def read_rows(
    path: Path, fields: set[str] = FIELDS, extra_key: str = "metadata"
) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """Yield (line number, row) from a .csv or .jsonl file; a string is an unreadable row.

    CSV columns outside ``fields`` go into the row's ``extra_key`` object.
    """
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                yield number, _from_csv(row, fields, extra_key)
        return
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, f"invalid_json: {exc.msg}"
                continue
            yield number, value if isinstance(value, dict) else "invalid_json: not an object"


def _from_csv(row: dict[str, str | None], fields: set[str], extra_key: str) -> dict[str, Any]:
    # Empty CSV cells mean "not given"; columns we do not know go to metadata (attributes).
    known: dict[str, Any] = {k: v for k, v in row.items() if k in fields and v not in (None, "")}
    extra = {k: v for k, v in row.items() if k and k not in fields and v not in (None, "")}
    if extra:
        known[extra_key] = extra
    return known


def validate_row(row: dict[str, Any], default_source: str, max_text_bytes: int) -> FeedbackIn:
    """The row as a FeedbackIn, or ValueError with a ``code: message`` reason."""
    row = {"source": default_source, **row}
    try:
        item = FeedbackIn.model_validate(row)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"validation_error: {where}: {first['msg']}") from exc
    if text_too_large(item, max_text_bytes):
        raise ValueError(f"text_too_large: over {max_text_bytes} bytes")
    return item


INTERACTION_FIELDS = {"customer_ref", "type", "occurred_at", "source", "external_id", "value"}


def validate_interaction_row(row: dict[str, Any], default_source: str) -> Any:
    """The row as a validated interaction, or ValueError with a ``code: message`` reason."""
    from api.customers.service import INTERACTION

    row = {"source": default_source, **row}
    try:
        return INTERACTION.validate_python(row)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"validation_error: {where}: {first['msg']}") from exc
