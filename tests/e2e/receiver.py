"""A real HTTP webhook receiver that checks signatures the way a consumer should."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """What the receiver got: every delivery, and the signature check of each."""

    deliveries: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    # (arrived, answered) of every request, time.monotonic(): how sends overlapped.
    spans: list[tuple[float, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def event_ids(self, event_type: str) -> set[str]:
        """Distinct event ids of a type (consumer-side dedupe)."""
        with self.lock:
            return {d["id"] for d in self.deliveries if d["type"] == event_type}


def is_genuine(secret: str, raw_body: bytes, header: str) -> bool:
    """The README's consumer check: any of the listed signatures matches our secret."""
    expected = "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, s.strip()) for s in header.split(","))


class WebhookReceiver:
    """Listens on 127.0.0.1; answers ``fail_with`` while it is set, else 200.

    Each answer waits ``delay_s`` first (a slow receiver), requests in parallel each on
    their own thread.
    """

    def __init__(self, secret: str, delay_s: float = 0.0) -> None:
        self.secret = secret
        self.received = Received()
        self.fail_with: int | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                arrived = time.monotonic()
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(delay_s)
                with receiver.received.lock:
                    receiver.received.spans.append((arrived, time.monotonic()))
                if receiver.fail_with is not None:
                    self.send_response(receiver.fail_with)
                    self.end_headers()
                    return
                valid = is_genuine(receiver.secret, body, self.headers["X-Langnghe-Signature"])
                event = json.loads(body)
                with receiver.received.lock:
                    if valid and event["id"] == self.headers["X-Langnghe-Event-Id"]:
                        receiver.received.deliveries.append(event)
                    else:
                        receiver.received.bad_signatures += 1
                self.send_response(200 if valid else 401)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
