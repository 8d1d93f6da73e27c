"""The trained heads that ship with langnghe, and the manifest that versions them.

``manifest.json`` names the encoder the heads were trained on and, per head,
its file, version, classes, model card and held-out metrics. It is written by
``python -m nlp.training.heads``; never edit it by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MODELS_DIR = Path(__file__).resolve().parent
MANIFEST = "manifest.json"


class ModelsNotFoundError(RuntimeError):
    """The models directory has no manifest: nothing was trained into it."""


def load_manifest(models_dir: Path | None = None) -> dict[str, Any]:
    """The parsed manifest of ``models_dir`` (default: the shipped models)."""
    path = (models_dir or MODELS_DIR) / MANIFEST
    if not path.is_file():
        raise ModelsNotFoundError(
            f"no {MANIFEST} in {path.parent}; train heads with "
            "`python -m nlp.training.heads --data models/data/seed.jsonl --out DIR`"
        )
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return manifest
