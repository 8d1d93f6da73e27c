"""The embedded Postgres (pgserver wheel) used when no database URL is configured."""

from __future__ import annotations

import warnings
from pathlib import Path

from pgserver import PostgresServer


def start_embedded_postgres(data_dir: Path) -> PostgresServer:
    """Start (or attach to) the Postgres whose files live under ``data_dir/pgdata``.

    Several langnghe processes may attach to the same data directory; the server
    stops when the last one that started it lets go.
    """
    import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless.
        warnings.simplefilter("ignore")
        return pgserver.get_server(data_dir / "pgdata", cleanup_mode="stop")
