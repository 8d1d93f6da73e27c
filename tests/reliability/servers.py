"""Servers a fault test may break: a private Postgres, a private Redis, a flaky receiver.

None of these is the machine's shared service: each lives in a temporary directory
on its own port or socket, so restarting or killing it touches nothing else.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg

from tests.e2e.receiver import is_genuine
from tests.helpers import free_port


class PrivatePostgres:
    """An embedded pgserver in a temporary directory that a test may stop and start."""

    def __init__(self, root: Path) -> None:
        import pgserver

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._server = pgserver.get_server(root / "pgdata", cleanup_mode="stop")
        self.url = self._server.get_uri()

    def _pg_ctl(self, *args: str) -> None:
        from pgserver import _commands

        _commands.pg_ctl(  # type: ignore[attr-defined]
            ["-w", *args],
            pgdata=self._server.pgdata,
            user=self._server.system_user,
            timeout=60,
        )

    def stop(self) -> None:
        """Stop the server now, disconnecting every client (fast shutdown)."""
        self._pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        """Start it again with the options it last ran with."""
        # restart on a stopped server starts it with the options in postmaster.opts.
        with contextlib.suppress(subprocess.CalledProcessError):
            self._pg_ctl("-m", "fast", "restart")
        deadline = time.monotonic() + 60
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def close(self) -> None:
        """Stop the server for good."""
        self._server.cleanup()


class PrivateRedis:
    """A redis-server on a free port, without persistence: a kill loses every message."""

    def __init__(self, root: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.binary = binary
        self.root = root
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        """Start (again) on the same port, empty."""
        log = (self.root / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.root),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 20
        while True:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the server: queued messages are gone, as after a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def close(self) -> None:
        """Stop it for good."""
        self.kill()


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A throwaway Postgres, stopped and removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        server = PrivatePostgres(Path(tmp))
        try:
            yield server
        finally:
            server.close()


@contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    """A throwaway Redis, killed and removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        server = PrivateRedis(Path(tmp))
        try:
            yield server
        finally:
            server.close()


@dataclass
class Log:
    """Everything a receiver got, duplicates included."""

    events: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    lost_acks: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ids(self) -> list[str]:
        """Event ids in arrival order, with repeats."""
        with self.lock:
            return [e["id"] for e in self.events]


class FlakyReceiver:
    """A webhook consumer on a fixed port that can go down (connection refused) and come back.

    ``lose_acks`` makes it process the next N events and then answer 503, as when a
    consumer commits and its answer is lost: the sender must retry, and the consumer
    must dedupe by event id.
    """

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.log = Log()
        self.lose_acks = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def up(self) -> None:
        """Start listening."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                genuine = is_genuine(receiver.secret, body, self.headers["X-Langnghe-Signature"])
                status = 200
                with receiver.log.lock:
                    if not genuine:
                        receiver.log.bad_signatures += 1
                        status = 401
                    else:
                        receiver.log.events.append(json.loads(body))
                        if receiver.lose_acks > 0:
                            receiver.lose_acks -= 1
                            receiver.log.lost_acks += 1
                            status = 503
                self.send_response(status)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def down(self) -> None:
        """Stop listening: deliveries now fail with connection refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
