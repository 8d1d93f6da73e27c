"""The embedded Postgres (pgserver wheel) used when no database URL is configured."""

from __future__ import annotations

import warnings
from pathlib import Path

# platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI, su): pgserver asks for
# that directory at import and when starting, and falls back to /tmp itself: harmless.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

from pgserver import PostgresServer  # noqa: E402


def start_embedded_postgres(data_dir: Path) -> PostgresServer:
    """Start (or attach to) the Postgres whose files live under ``data_dir/pgdata``.

    Several langnghe processes may attach to the same data directory; the server
    stops when the last one that started it lets go.
    """
    import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    return pgserver.get_server(data_dir / "pgdata", cleanup_mode="stop")
