"""Local stand-ins for Zendesk and Freshdesk that check requests against their documented API.

Each server checks the Authorization header and the JSON body of ticket creation against
a JSON Schema of the vendor's documented request, keeps the tickets it created, and
answers from a script: a list of (status, headers) to send instead of success, in order
(429 with Retry-After, 5xx), then success. A scripted 5xx may be ``after_create``: the
ticket is stored and the answer is still an error, as when a help desk commits and its
proxy times out; a client that retries blindly then makes a second ticket.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema

from tests.helpers import free_port

# POST /api/v2/tickets.json (Zendesk Support API, "Create Ticket").
ZENDESK_TICKET_SCHEMA = {
    "type": "object",
    "required": ["ticket"],
    "additionalProperties": False,
    "properties": {
        "ticket": {
            "type": "object",
            "required": ["subject", "comment", "priority", "tags"],
            "properties": {
                "subject": {"type": "string", "minLength": 1},
                "comment": {
                    "type": "object",
                    "required": ["body"],
                    "properties": {"body": {"type": "string", "minLength": 1}},
                },
                "priority": {"enum": ["urgent", "high", "normal", "low"]},
                "tags": {"type": "array", "items": {"type": "string", "pattern": r"^\S+$"}},
                "external_id": {"type": "string"},
                "requester": {
                    "type": "object",
                    "required": ["email"],
                    "properties": {"email": {"type": "string"}, "name": {"type": "string"}},
                },
            },
        }
    },
}

# POST /api/v2/tickets (Freshdesk API v2, "Create a Ticket"): a requester (email here),
# priority 1-4, status 2-5.
FRESHDESK_TICKET_SCHEMA = {
    "type": "object",
    "required": ["subject", "description", "email", "priority", "status"],
    "properties": {
        "subject": {"type": "string", "minLength": 1},
        "description": {"type": "string", "minLength": 1},
        "email": {"type": "string", "pattern": "^[^@]+@[^@]+$"},
        "priority": {"enum": [1, 2, 3, 4]},
        "status": {"enum": [2, 3, 4, 5]},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 32}},
    },
}


@dataclass
class Scripted:
    """One scripted answer to a create request."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    after_create: bool = False


@dataclass
class HelpDesk:
    """What the fake help desk saw and holds."""

    vendor: str
    authorization: str
    script: list[Scripted] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def handle(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        """The answer to one request: (status, headers, JSON)."""
        with self.lock:
            self.requests.append((method, path))
            if headers.get("Authorization") != self.authorization:
                self.problems.append(f"bad Authorization: {headers.get('Authorization')!r}")
                return 401, {}, {"error": "Couldn't authenticate you"}
            parts = urlsplit(path)
            if method == "GET":
                return 200, {}, self._lookup(parts.path, parse_qs(parts.query))
            if method == "POST" and parts.path == self._create_path:
                return self._create(headers, body)
            return 404, {}, {"error": "InvalidEndpoint"}

    @property
    def _create_path(self) -> str:
        return "/api/v2/tickets.json" if self.vendor == "zendesk" else "/api/v2/tickets"

    def _lookup(self, path: str, query: dict[str, list[str]]) -> Any:
        if self.vendor == "zendesk" and path == "/api/v2/tickets.json":
            wanted = query.get("external_id", [""])[0]
            found = [t for t in self.tickets if t.get("external_id") == wanted]
            return {"tickets": found, "count": len(found)}
        # Freshdesk: /api/v2/search/tickets?query="tag:'lg...'"
        text = query.get("query", [""])[0]
        tag = text.strip('"').removeprefix("tag:").strip("'")
        found = [t for t in self.tickets if tag in t.get("tags", [])]
        return {"results": found, "total": len(found)}

    def _create(self, headers: Any, body: bytes) -> tuple[int, dict[str, str], Any]:
        if headers.get("Content-Type") != "application/json":
            self.problems.append(f"Content-Type {headers.get('Content-Type')!r}")
            return 415, {}, {"error": "content type"}
        document = json.loads(body)
        schema = ZENDESK_TICKET_SCHEMA if self.vendor == "zendesk" else FRESHDESK_TICKET_SCHEMA
        try:
            jsonschema.validate(document, schema)
        except jsonschema.ValidationError as exc:
            self.problems.append(f"schema: {exc.message}")
            return 400, {}, {"description": "Validation failed", "errors": [exc.message]}
        scripted = self.script.pop(0) if self.script else None
        if scripted is not None and not scripted.after_create:
            return scripted.status, scripted.headers, {"error": "scripted"}
        ticket = document["ticket"] if self.vendor == "zendesk" else document
        stored = {"status": "open", **ticket, "id": 1000 + len(self.tickets)}
        self.tickets.append(stored)
        if scripted is not None:
            return scripted.status, scripted.headers, {"error": "scripted after create"}
        answer = {"ticket": stored} if self.vendor == "zendesk" else stored
        return 201, {"Location": f"/api/v2/tickets/{stored['id']}"}, answer


@contextmanager
def running_helpdesk(desk: HelpDesk) -> Iterator[HelpDesk]:
    """Serve ``desk`` on a free loopback port until the block ends."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            status, headers, answer = desk.handle(self.command, self.path, self.headers, body)
            raw = json.dumps(answer).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    desk.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield desk
    finally:
        server.shutdown()
        server.server_close()


def zendesk_authorization(email: str, token: str) -> str:
    """Basic auth as Zendesk documents it for API tokens: ``{email}/token:{token}``."""
    return "Basic " + base64.b64encode(f"{email}/token:{token}".encode()).decode()


def freshdesk_authorization(api_key: str) -> str:
    """Basic auth as Freshdesk documents it: the API key as user, ``X`` as password."""
    return "Basic " + base64.b64encode(f"{api_key}:X".encode()).decode()
