"""Local stand-ins for Zendesk and Freshdesk that check requests against their documented API.

Each server checks the Authorization header and the JSON body of ticket creation against
a JSON Schema of the vendor's documented request, keeps the tickets it created, and
answers from a script: a list of (status, headers) to send instead of success, in order
(429 with Retry-After, 5xx), then success. A scripted 5xx may be ``after_create``: the
ticket is stored and the answer is still an error, as when a help desk commits and its
proxy times out; a client that retries blindly then makes a second ticket.

For pulls they serve the documented read endpoints over the tickets they hold (those
created through the API and those the test adds as customers' and agents' messages):
Zendesk's incremental cursor export and ticket comments (with users sideloaded), and
Freshdesk's ticket list (``updated_since``, ascending ``updated_at``) and conversations,
paged as each vendor pages (an ``after_cursor`` and ``end_of_stream``; ``next_page``; a
``Link: <...>; rel="next"`` header), at most ``page_size`` a page so that tests page.
``get_script`` answers these reads before success (429 with Retry-After).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

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
    # Pulls: answers to the read endpoints before success, the page size, the people
    # (id -> {"email", "name", "role": "end-user" | "agent"}) and each ticket's comments.
    get_script: list[Scripted] = field(default_factory=list)
    page_size: int = 2
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    api_user: int = 1
    # The help desk's clock: a second further at each change, so that order is certain.
    clock: int = field(default_factory=lambda: int(time.time()) - 3600)

    def _tick(self) -> tuple[int, str]:
        self.clock += 1
        stamp = datetime.fromtimestamp(self.clock, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return self.clock, stamp

    def add_user(self, user_id: int, email: str, role: str) -> None:
        """A person of the help desk: a customer (``end-user``) or an ``agent``."""
        self.users[user_id] = {"id": user_id, "email": email, "name": email, "role": role}

    def add_ticket(self, requester_id: int, subject: str, body: str, channel: Any) -> int:
        """A ticket a customer opened: Zendesk ``via.channel`` or Freshdesk ``source``."""
        with self.lock:
            ticket: dict[str, Any] = {"subject": subject, "tags": [], "status": "open"}
            if self.vendor == "zendesk":
                ticket |= {"via": {"channel": channel}, "requester_id": requester_id}
            else:
                ticket |= {"source": channel, "requester_id": requester_id, "status": 2}
            ticket_id = self._store(ticket, body)
            if self.vendor == "zendesk":  # Zendesk's first comment is the description
                self._comment(ticket_id, requester_id, body, public=True)
            return ticket_id

    def add_comment(self, ticket_id: int, author_id: int, body: str, public: bool = True) -> int:
        """A reply (or, not public, an internal note) on a ticket; the ticket is updated."""
        with self.lock:
            return self._comment(ticket_id, author_id, body, public)

    def _store(self, ticket: dict[str, Any], body: str) -> int:
        ts, stamp = self._tick()
        ticket_id = 1000 + len(self.tickets)
        ticket |= {"id": ticket_id, "created_at": stamp, "updated_at": stamp}
        ticket |= {"generated_timestamp": ts, "description": body}
        if self.vendor == "freshdesk":
            ticket["description_text"] = body
        self.tickets.append(ticket)
        self.comments[ticket_id] = []
        return ticket_id

    def _comment(self, ticket_id: int, author_id: int, body: str, public: bool) -> int:
        ts, stamp = self._tick()
        comment_id = 5000 + sum(len(c) for c in self.comments.values())
        customer = self.users.get(author_id, {}).get("role") == "end-user"
        if self.vendor == "zendesk":
            comment = {
                "id": comment_id,
                "type": "Comment",
                "author_id": author_id,
                "body": body,
                "plain_body": body,
                "html_body": f"<p>{body}</p>",
                "public": public,
                "created_at": stamp,
            }
        else:
            comment = {
                "id": comment_id,
                "body": f"<div>{body}</div>",
                "body_text": body,
                "incoming": customer,
                "private": not public,
                "user_id": author_id,
                "from_email": self.users.get(author_id, {}).get("email"),
                "source": 0 if public else 2,
                "created_at": stamp,
            }
        self.comments[ticket_id].append(comment)
        ticket = next(t for t in self.tickets if t["id"] == ticket_id)
        ticket |= {"updated_at": stamp, "generated_timestamp": ts}
        return comment_id

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
            query = parse_qs(parts.query)
            if method == "GET" and self._is_pull(parts.path):
                scripted = self.get_script.pop(0) if self.get_script else None
                if scripted is not None:
                    return scripted.status, scripted.headers, {"error": "scripted"}
                return self._pull(parts.path, query)
            if method == "GET":
                return 200, {}, self._lookup(parts.path, query)
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

    def _is_pull(self, path: str) -> bool:
        if self.vendor == "zendesk":
            return path == "/api/v2/incremental/tickets/cursor.json" or (
                path.startswith("/api/v2/tickets/") and path.endswith("/comments.json")
            )
        return path == "/api/v2/tickets" or path.endswith("/conversations")

    def _pull(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
        if path == "/api/v2/incremental/tickets/cursor.json":
            return self._zendesk_export(query)
        if path == "/api/v2/tickets":
            return self._freshdesk_list(query)
        ticket_id = int(path.split("/")[4])
        if ticket_id not in self.comments:
            return 404, {}, {"error": "RecordNotFound"}
        page = int(query.get("page", ["1"])[0])
        comments = self.comments[ticket_id]
        chunk = comments[(page - 1) * self.page_size : page * self.page_size]
        more = page * self.page_size < len(comments)
        if self.vendor == "zendesk":
            if query.get("include") != ["users"]:
                self.problems.append(f"comments without users sideloaded: {query}")
            authors = {c["author_id"] for c in chunk}
            following = f"{self.url}{path}?" + urlencode({"include": "users", "page": page + 1})
            return (
                200,
                {},
                {
                    "comments": chunk,
                    "users": [self.users[a] for a in sorted(authors) if a in self.users],
                    "next_page": following if more else None,
                    "previous_page": None,
                    "count": len(comments),
                },
            )
        return 200, self._link(path, query, page, more), chunk

    def _link(
        self, path: str, query: dict[str, list[str]], page: int, more: bool
    ) -> dict[str, str]:
        if not more:
            return {}
        following = {k: v[0] for k, v in query.items()} | {"page": str(page + 1)}
        return {"Link": f'<{self.url}{path}?{urlencode(following)}>; rel="next"'}

    def _zendesk_export(self, query: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
        # The cursor encodes the (generated_timestamp, id) of the last ticket served.
        if ("cursor" in query) == ("start_time" in query):
            self.problems.append(f"export wants start_time or cursor: {query}")
            return 400, {}, {"error": "InvalidPaginationParameter"}
        if "cursor" in query:
            ts, last_id = map(int, base64.b64decode(query["cursor"][0]).decode().split("|"))
        else:
            ts, last_id = int(query["start_time"][0]), -1
            if ts > time.time() - 60:
                return 400, {}, {"error": "InvalidValue", "description": "Too recent start_time"}
        newer = sorted(
            (t for t in self.tickets if (t["generated_timestamp"], t["id"]) > (ts, last_id)),
            key=lambda t: (t["generated_timestamp"], t["id"]),
        )
        chunk = newer[: self.page_size]
        if chunk:
            ts, last_id = chunk[-1]["generated_timestamp"], chunk[-1]["id"]
        after = base64.b64encode(f"{ts}|{last_id}".encode()).decode()
        return (
            200,
            {},
            {
                "tickets": chunk,
                "after_cursor": after,
                "after_url": f"{self.url}/api/v2/incremental/tickets/cursor.json?cursor={after}",
                "before_cursor": None,
                "before_url": None,
                "end_of_stream": len(newer) <= self.page_size,
            },
        )

    def _freshdesk_list(self, query: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
        flat = {k: v[0] for k, v in query.items()}
        includes = set(flat.get("include", "").split(",")) - {""}
        if (
            flat.get("order_by") != "updated_at"
            or flat.get("order_type") not in ("asc", "desc")
            or "updated_since" not in flat
            or not includes <= {"requester", "stats", "description", "company"}
            or int(flat.get("per_page", "30")) > 100
        ):
            self.problems.append(f"ticket list: {flat}")
            return 400, {}, {"description": "Validation failed", "errors": [flat]}
        since = datetime.fromisoformat(flat["updated_since"].replace("Z", "+00:00"))
        newer = sorted(
            (
                t
                for t in self.tickets
                if datetime.fromisoformat(t["updated_at"].replace("Z", "+00:00")) >= since
            ),
            key=lambda t: (t["updated_at"], t["id"]),
        )
        page = int(flat.get("page", "1"))
        size = min(self.page_size, int(flat.get("per_page", "30")))
        shown = []
        for ticket in newer[(page - 1) * size : page * size]:
            listed = {
                k: v
                for k, v in ticket.items()
                if k not in ("description", "description_text", "generated_timestamp")
            }
            if "description" in includes:
                listed |= {k: ticket[k] for k in ("description", "description_text")}
            if "requester" in includes and ticket.get("requester_id") in self.users:
                person = self.users[ticket["requester_id"]]
                listed["requester"] = {k: person[k] for k in ("id", "name", "email")}
            shown.append(listed)
        return 200, self._link("/api/v2/tickets", query, page, page * size < len(newer)), shown

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
        description = (
            ticket["comment"]["body"] if self.vendor == "zendesk" else ticket["description"]
        )
        stored = {"status": "open", **ticket}
        if self.vendor == "zendesk":
            stored |= {"via": {"channel": "api"}, "requester_id": self.api_user}
        else:
            stored["source"] = 2
        ticket_id = self._store(stored, description)
        if self.vendor == "zendesk":  # written by the API's user, an agent
            self._comment(ticket_id, self.api_user, description, public=True)
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
