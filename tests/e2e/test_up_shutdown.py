"""`langnghe up` stops cleanly on Ctrl-C: every process it started gone, no error logged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.helpers import free_port

pytestmark = pytest.mark.e2e


def test_ctrl_c_stops_every_process_and_logs_no_error(tmp_path: Path) -> None:
    # Its own embedded Postgres, as a newcomer's first `up` gets: the session's shared test
    # database holds other tests' tenants, whose connectors log errors of their own.
    out = tmp_path / "up.log"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LANGNGHE_DATABASE_URL", "LANGNGHE_BROKER_URL")
    }
    env["LANGNGHE_STATE_FILE"] = str(tmp_path / "up.json")
    with out.open("wb") as log:
        up = subprocess.Popen(
            [sys.executable, "-m", "langnghe", "up", "--data-dir", str(tmp_path / "d"),
             "--port", str(free_port())],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 180
            while "Ctrl-C stops everything" not in out.read_text(errors="replace"):
                assert up.poll() is None, out.read_text(errors="replace")
                assert time.monotonic() < deadline, "up did not come up"
                time.sleep(0.5)
            # Let the worker's pool and its beat start, so there is something to stop.
            time.sleep(5)
            started = psutil.Process(up.pid).children(recursive=True)
            assert len(started) >= 4  # the API, the worker, its pool and its beat
            up.send_signal(signal.SIGINT)  # what Ctrl-C sends
            assert up.wait(timeout=60) == 0
        finally:
            if up.poll() is None:
                up.kill()
    left = [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    text = out.read_text(errors="replace")
    assert not left, [p.cmdline() for p in left]
    assert "stopped" in text
    assert "ERROR" not in text, text[-3000:]
