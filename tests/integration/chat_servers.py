"""Local stand-ins for Slack, Microsoft Teams and an SMTP server, started by the tests.

The HTTP servers check each request against the vendor's documented request shape and
answer as the vendor does: Slack's incoming webhooks take a JSON body with ``text`` and
Block Kit ``blocks`` and answer ``200 ok`` (``400 invalid_blocks`` on a bad block, 429
with Retry-After when rate limited); a Teams workflow webhook takes a ``message`` whose
``attachments`` hold one Adaptive Card and answers 202. A script of answers (status,
headers) lets a test make them fail first. The SMTP server is aiosmtpd's.
"""

from __future__ import annotations

import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.helpers import free_port

Answer = tuple[int, dict[str, str]]
# Block Kit's layout blocks and the limits Slack documents for the ones we send.
SLACK_BLOCKS = {"header", "section", "divider", "context", "actions", "image", "rich_text"}


def slack_problems(body: dict[str, Any]) -> list[str]:
    """What is wrong with an incoming-webhook body, by Slack's documented format."""
    problems = []
    if not isinstance(body.get("text"), str) or not body["text"]:
        problems.append("text (the notification fallback) is missing")
    blocks = body.get("blocks")
    if not isinstance(blocks, list) or not 1 <= len(blocks) <= 50:
        return [*problems, "blocks must be a list of 1 to 50 blocks"]
    for block in blocks:
        kind = block.get("type")
        if kind not in SLACK_BLOCKS:
            problems.append(f"unknown block type {kind!r}")
        if kind == "header" and (
            block["text"]["type"] != "plain_text" or len(block["text"]["text"]) > 150
        ):
            problems.append("a header takes plain_text of at most 150 characters")
        if kind == "section":
            if block["text"]["type"] not in ("mrkdwn", "plain_text"):
                problems.append("a section's text is mrkdwn or plain_text")
            if len(block["text"]["text"]) > 3000:
                problems.append("a section's text is at most 3000 characters")
            if len(block.get("fields", [])) > 10:
                problems.append("a section has at most 10 fields")
        if kind == "context" and not 1 <= len(block.get("elements", [])) <= 10:
            problems.append("a context has 1 to 10 elements")
    return problems


def teams_problems(body: dict[str, Any]) -> list[str]:
    """What is wrong with a Teams workflow-webhook body carrying an Adaptive Card."""
    if body.get("type") != "message":
        return ["type must be 'message'"]
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or len(attachments) != 1:
        return ["attachments must hold exactly one card"]
    card = attachments[0]
    problems = []
    if card.get("contentType") != "application/vnd.microsoft.card.adaptive":
        problems.append("contentType must be application/vnd.microsoft.card.adaptive")
    content = card.get("content", {})
    if content.get("type") != "AdaptiveCard" or not content.get("version"):
        problems.append("content must be an AdaptiveCard with a version")
    if not isinstance(content.get("body"), list) or not content["body"]:
        problems.append("the card needs a body")
    for element in content.get("body", []):
        if element.get("type") not in ("TextBlock", "FactSet", "ActionSet", "Container"):
            problems.append(f"unexpected card element {element.get('type')!r}")
        if element.get("type") == "FactSet" and not all(
            {"title", "value"} <= set(f) for f in element["facts"]
        ):
            problems.append("facts need a title and a value")
    return problems


@dataclass
class Request:
    """One request a fake received: when, its body, and what it answered."""

    at: float
    body: dict[str, Any]
    status: int


@dataclass
class ChatServer:
    """A fake Slack or Teams webhook on 127.0.0.1 (``check`` is its request validator)."""

    check: Callable[[dict[str, Any]], list[str]]
    ok: Answer
    bad: Answer
    script: list[Answer] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    path: str = "/hook/T000/B000/secret-token-xyz"

    def __post_init__(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                problems: list[str] = []
                if self.path != fake.path:
                    problems.append(f"unknown webhook path {self.path}")
                if self.headers.get("Content-Type", "").split(";")[0] != "application/json":
                    problems.append("Content-Type must be application/json")
                try:
                    body = json.loads(raw)
                except ValueError:
                    body, problems = {}, [*problems, "the body is not JSON"]
                problems += fake.check(body) if body else []
                status, headers = (
                    fake.bad if problems else (fake.script.pop(0) if fake.script else fake.ok)
                )
                fake.problems += problems
                fake.requests.append(Request(time.monotonic(), body, status))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The webhook URL (the path plays the secret token's part)."""
        return f"http://127.0.0.1:{self._server.server_port}{self.path}"

    def delivered(self) -> list[dict[str, Any]]:
        """The bodies answered with success."""
        return [r.body for r in self.requests if 200 <= r.status < 300]

    def __enter__(self) -> ChatServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def slack_server(script: list[Answer] | None = None) -> ChatServer:
    """A fake Slack incoming webhook."""
    return ChatServer(
        slack_problems, (200, {"Content-Type": "text/plain"}), (400, {}), script or []
    )


def teams_server(script: list[Answer] | None = None) -> ChatServer:
    """A fake Teams workflow webhook (Power Automate answers 202 Accepted)."""
    return ChatServer(teams_problems, (202, {}), (400, {}), script or [])


class _Sink:
    def __init__(self, mails: list[EmailMessage]) -> None:
        self.mails = mails

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        mail = cast(EmailMessage, BytesParser(policy=policy.default).parsebytes(content))
        self.mails.append(mail)
        return "250 Message accepted for delivery"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (IP SAN) and its key, as PEM files in ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class SmtpServer:
    """aiosmtpd on a free 127.0.0.1 port; ``mails`` holds each message, parsed.

    With ``tls`` (a certificate and key file) it offers STARTTLS and requires it; with
    ``users`` it requires AUTH (over TLS only, as aiosmtpd does by default).
    """

    def __init__(
        self, tls: tuple[Path, Path] | None = None, users: dict[str, str] | None = None
    ) -> None:
        self.mails: list[EmailMessage] = []
        self.logins: list[str] = []
        self.port = free_port()
        options: dict[str, Any] = {}
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            options.update(tls_context=context, require_starttls=True)
        if users is not None:
            server = self

            def authenticate(
                _server: SMTP, _session: Session, _envelope: Envelope, _mechanism: str, auth: Any
            ) -> AuthResult:
                login = auth.login.decode()
                ok = users.get(login) == auth.password.decode()
                if ok:
                    server.logins.append(login)
                return AuthResult(success=ok)

            options.update(authenticator=authenticate, auth_required=True)
        self._controller = Controller(
            _Sink(self.mails), hostname="127.0.0.1", port=self.port, **options
        )

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._controller.stop()
