"""Worker health, ``/readyz``-style: what each worker process loaded, and on which device.

A worker process writes one small JSON file when its pipeline is loaded (device,
dtype, model versions) under ``<data dir>/health/``; ``langnghe
worker-health`` reads the files of this host whose process is still alive. That
needs no broker round trip, so it also serves as the container health check.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any, Protocol

from nlp.encoders.registry import Encoder, encoder_info


class _Loaded(Protocol):
    @property
    def encoder(self) -> Encoder:
        """The loaded encoder."""
        ...

    @property
    def model_versions(self) -> dict[str, str]:
        """Versions of every component."""
        ...


def health_dir(data_dir: Path) -> Path:
    """Where worker health files live."""
    return data_dir / "health"


def write_health(data_dir: Path, pipeline: _Loaded) -> Path:
    """Record this process's loaded models; returns the file written."""
    folder = health_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    host, pid = socket.gethostname(), os.getpid()
    record = {
        "host": host,
        "pid": pid,
        "ready_at": time.time(),
        **encoder_info(pipeline.encoder),
        "model_versions": pipeline.model_versions,
    }
    path = folder / f"worker-{host}-{pid}.json"
    staging = path.with_suffix(".tmp")
    staging.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    staging.replace(path)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_health(data_dir: Path) -> list[dict[str, Any]]:
    """Records of this host's live worker processes; files of dead ones are removed."""
    host = socket.gethostname()
    live = []
    for path in sorted(health_dir(data_dir).glob(f"worker-{host}-*.json")):
        try:
            record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if _alive(int(record.get("pid", -1))):
            live.append(record)
        else:
            path.unlink(missing_ok=True)
    return live
