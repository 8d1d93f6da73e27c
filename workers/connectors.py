"""Pull connectors: an IMAP mailbox and a CSV/JSONL drop folder (help desks: connectors_helpdesk).

Every pulled item goes through the validation of ``POST /v1/feedback`` (FeedbackIn, via
``langnghe.ingest.validate_row``) and is stored by the same ``store_feedback``, so the
(tenant, source, external_id) key makes a pull idempotent: a message fetched twice (a
crash between storing and saving the cursor) is a duplicate, not a second item. Each run
is isolated: whatever one connector raises is recorded on its run and never stops the
others.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import imaplib
import json
import logging
import re
import ssl
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parseaddr, parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from celery import Celery

from api.schemas import FeedbackIn
from api.service import store_feedback
from langnghe.config import Settings
from langnghe.ingest import read_rows, validate_row
from langnghe.secrets import SecretBox
from store import connectors as connectors_store
from store.connectors import Claimed, RunCounts
from store.db import Database
from store.tenants import Tenant
from workers.enqueue import enqueue_fair
from workers.ssrf import TargetGuard, guard_for

log = logging.getLogger(__name__)

# A run holds its connector this long at most; a worker that dies frees it after.
LEASE_S = 900.0
# Bounds on one run, so a mailbox of 100,000 messages is read over several runs.
MAX_MESSAGES_PER_RUN = 500
FETCH_CHUNK = 50
INGEST_BATCH = 500
IMAP_TIMEOUT_S = 30.0
PROCESSED_DIR = "processed"
FAILED_DIR = "failed"


def open_secrets(settings: Settings, token: str | None) -> dict[str, str]:
    """A connector's decrypted credentials; SecretKeyMissing when no key is configured."""
    if token is None:
        return {}
    value = json.loads(SecretBox(settings.secret_key).decrypt(token))
    assert isinstance(value, dict)
    return value


def folder_path(root: Path | None, relative: str) -> Path:
    """The drop folder ``relative`` under the configured root; ValueError if it leaves it."""
    if root is None:
        raise ValueError(
            "LANGNGHE_CONNECTOR_FOLDER_ROOT is not set: drop-folder connectors read only "
            "under that directory"
        )
    base = root.resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base):
        raise ValueError("the folder must lie under LANGNGHE_CONNECTOR_FOLDER_ROOT")
    return path


@dataclass
class PullContext:
    """What a run needs: the database, settings, the queue to send new items to."""

    db: Database
    settings: Settings
    queue: Celery

    @property
    def guard(self) -> TargetGuard:
        """The SSRF guard of webhooks, applied to mail servers too."""
        return guard_for(
            self.settings.webhook_allow_private, self.settings.webhook_allowed_networks
        )


def ingest_items(
    ctx: PullContext, connector: Claimed, items: Sequence[FeedbackIn], counts: RunCounts
) -> None:
    """Store validated items as POST /v1/feedback does, then queue the new ones."""
    if not items:
        return
    tenant = Tenant(id=connector.tenant_id, name=connector.tenant_name)
    inserted = store_feedback(ctx.db, tenant, items, ctx.settings.pii_redaction, origin="connector")
    fresh = [i.id for i in inserted if not i.duplicate]
    counts.accepted += len(fresh)
    counts.duplicates += len(inserted) - len(fresh)
    if fresh:
        enqueue_fair(
            ctx.db,
            ctx.queue,
            tenant.id,
            fresh,
            ctx.settings.analyze_batch_size,
            ctx.settings.tenant_max_inflight,
        )


def validated_row(row: dict[str, Any], source: str, max_text_bytes: int) -> FeedbackIn:
    """validate_row, retried without ``occurred_at``: a bad Date header loses the date only."""
    try:
        return validate_row(row, source, max_text_bytes)
    except ValueError:
        if "occurred_at" not in row:
            raise
        return validate_row(
            {k: v for k, v in row.items() if k != "occurred_at"}, source, max_text_bytes
        )


# --- IMAP ---------------------------------------------------------------------------


# Elements that end a line of text (their start and their end).
_BREAKS = frozenset({"br", "p", "div", "li", "tr", "blockquote", "h1", "h2", "h3"})


class _TextOfHtml(HTMLParser):
    """The visible text of an HTML body (scripts and styles left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in _BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        elif tag in _BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_text(html: str) -> str:
    """Plain text of an HTML mail body."""
    parser = _TextOfHtml()
    parser.feed(html)
    return re.sub(r"\n\s*\n+", "\n\n", "".join(parser.parts))


def email_row(raw: bytes, fallback_id: str, language: str | None = None) -> dict[str, Any]:
    """A feedback row (as POST /v1/feedback takes it) for one RFC 5322 message.

    The body is the plain-text part (or the HTML one as text), kept whole: the email
    channel normaliser strips quoted replies and signatures at analysis. The Message-ID
    is the external id; a message without one gets ``fallback_id`` (UIDVALIDITY and UID).
    """
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("plain", "html"))
    text = ""
    if isinstance(part, EmailMessage):
        with contextlib.suppress(LookupError, UnicodeError):
            text = str(part.get_content())
        if part.get_content_type() == "text/html":
            text = html_text(text)
        text = text.replace("\r\n", "\n")  # the wire's line ends, not the customer's
    subject = str(message.get("Subject") or "").strip()
    message_id = str(message.get("Message-ID") or "").strip() or fallback_id
    row: dict[str, Any] = {
        "text": text.strip() or subject,
        "channel": "email",
        "external_id": message_id[:200],
        "metadata": {"subject": subject} if subject else {},
    }
    sender = parseaddr(str(message.get("From") or ""))[1].strip().lower()
    if sender:
        row["customer_ref"] = sender[:200]
    with contextlib.suppress(TypeError, ValueError, IndexError):
        sent = parsedate_to_datetime(str(message.get("Date") or ""))
        row["occurred_at"] = sent if sent.tzinfo else sent.replace(tzinfo=UTC)
    if language:
        row["language"] = language
    return row


def _imap_connect(config: dict[str, Any]) -> imaplib.IMAP4:
    host, port, security = config["host"], int(config["port"]), config["security"]
    if security == "tls":
        return imaplib.IMAP4_SSL(
            host, port, ssl_context=ssl.create_default_context(), timeout=IMAP_TIMEOUT_S
        )
    imap = imaplib.IMAP4(host, port, timeout=IMAP_TIMEOUT_S)
    if security == "starttls":
        imap.starttls(ssl.create_default_context())
    return imap


_UID = re.compile(rb"UID (\d+)")


def _fetched(data: list[Any]) -> Iterator[tuple[int, bytes]]:
    """(UID, message bytes) from the answer to ``UID FETCH ... (UID BODY.PEEK[])``."""
    for entry in data:
        if isinstance(entry, tuple) and len(entry) == 2:
            found = _UID.search(entry[0])
            if found:
                yield int(found.group(1)), entry[1]


def _check(reply: tuple[str, list[Any]], what: str) -> list[Any]:
    status, data = reply
    if status != "OK":
        detail = b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")
        raise RuntimeError(f"IMAP {what} failed: {detail[:200]}")
    return data


def pull_imap(ctx: PullContext, connector: Claimed, counts: RunCounts) -> None:
    """Fetch messages after the cursor's UID, store them as ``email`` feedback, move the cursor.

    The cursor is (UIDVALIDITY, last UID): a UIDVALIDITY that changed means the server
    renumbered the mailbox, and it is read again from the start (the Message-IDs make
    what was already stored duplicates). Messages are fetched with BODY.PEEK, so they
    stay unread for the people who share the mailbox.
    """
    config = connector.config
    password = open_secrets(ctx.settings, connector.secrets)["password"]
    ctx.guard.check_url(f"https://{config['host']}:{int(config['port'])}/")
    imap = _imap_connect(config)
    try:
        try:
            imap.login(config["username"], password)
        except imaplib.IMAP4.error as exc:  # the server's answer, never the password
            raise RuntimeError(f"IMAP login failed: {exc}") from exc
        _check(imap.select(_quoted(config["mailbox"]), readonly=True), "select")
        validity_reply = imap.response("UIDVALIDITY")[1]
        uidvalidity = int(validity_reply[0]) if validity_reply and validity_reply[0] else 0
        cursor = connector.cursor
        last_uid = int(cursor.get("last_uid", 0)) if cursor.get("uidvalidity") == uidvalidity else 0
        found = _check(imap.uid("SEARCH", f"UID {last_uid + 1}:*"), "search")
        # "n:*" always matches the newest message, even when its UID is below n.
        uids = sorted(u for u in (int(x) for x in b" ".join(found).split()) if u > last_uid)
        wanted = uids[:MAX_MESSAGES_PER_RUN]
        for start in range(0, len(wanted), FETCH_CHUNK):
            chunk = wanted[start : start + FETCH_CHUNK]
            data = _check(
                imap.uid("FETCH", ",".join(map(str, chunk)), "(UID BODY.PEEK[])"), "fetch"
            )
            items = []
            for uid, raw in _fetched(data):
                counts.fetched += 1
                try:
                    row = email_row(raw, f"imap:{uidvalidity}:{uid}", config.get("language"))
                    items.append(validated_row(row, config["source"], ctx.settings.max_text_bytes))
                # Whatever one malformed message raises, the cursor must move past it, or the
                # mailbox would be stuck on it for good: it is counted as rejected.
                except Exception as exc:
                    counts.reject(f"uid {uid}", f"{type(exc).__name__}: {exc}")
            ingest_items(ctx, connector, items, counts)
            with ctx.db.transaction() as conn:
                connectors_store.save_cursor(
                    conn, connector.id, {"uidvalidity": uidvalidity, "last_uid": max(chunk)}
                )
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            imap.logout()


def _quoted(mailbox: str) -> str:
    """A mailbox name as an IMAP quoted string (names may hold spaces)."""
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- Drop folder --------------------------------------------------------------------


def _move_aside(path: Path, done: Path) -> None:
    target = done / path.name
    if target.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        target = done / f"{path.stem}.{stamp}{path.suffix}"
    path.rename(target)


def _load_file(ctx: PullContext, connector: Claimed, path: Path, counts: RunCounts) -> None:
    """Store one file's valid rows, in batches."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:24]
    source = connector.config["source"]
    batch: list[FeedbackIn] = []
    for line, row in read_rows(path):
        counts.fetched += 1
        if isinstance(row, str):
            counts.reject(f"{path.name}:{line}", row)
            continue
        row.setdefault("external_id", f"{digest}:{line}")
        try:
            batch.append(validate_row(row, source, ctx.settings.max_text_bytes))
        except ValueError as exc:
            counts.reject(f"{path.name}:{line}", str(exc))
            continue
        if len(batch) >= INGEST_BATCH:
            ingest_items(ctx, connector, batch, counts)
            batch = []
    ingest_items(ctx, connector, batch, counts)


def pull_folder(ctx: PullContext, connector: Claimed, counts: RunCounts) -> None:
    """Load every .csv and .jsonl file in the folder, then move it into ``processed/``.

    Rows are parsed and validated as by ``langnghe ingest``. A row without an external_id
    gets one from the file's content hash and its line, so a file read twice (a crash
    before the move, or the same file dropped again) adds nothing. Files whose name
    starts with a dot are left alone: write under such a name, then rename, so that a
    half-written file is never read. A file that cannot be read (not UTF-8, a NUL byte in
    a CSV) goes to ``failed/`` after the rows read before the fault, so it never holds
    up the files after it; the run then ends in an error that names it.
    """
    folder = folder_path(ctx.settings.connector_folder_root, connector.config["path"])
    done, failed_dir = folder / PROCESSED_DIR, folder / FAILED_DIR
    done.mkdir(exist_ok=True)
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in (".csv", ".jsonl")
    )
    failed: list[str] = []
    for path in files:
        try:
            _load_file(ctx, connector, path, counts)
        except (UnicodeDecodeError, csv.Error) as exc:
            failed.append(f"{path.name}: {type(exc).__name__}: {exc}")
            failed_dir.mkdir(exist_ok=True)
            _move_aside(path, failed_dir)
            continue
        _move_aside(path, done)
    if failed:
        raise ValueError(f"moved to {FAILED_DIR}/: " + "; ".join(failed))


Puller = Callable[[PullContext, Claimed, RunCounts], None]

PULLERS: dict[str, Puller] = {
    "imap": pull_imap,
    "folder": pull_folder,
}


def puller(kind: str) -> Puller:
    """The pull of a connector kind; help desks pull only when their ``pull`` option is on."""
    if kind in PULLERS:
        return PULLERS[kind]
    # Imported here: the help-desk pulls build on this module's ingest path.
    from workers.connectors_helpdesk import HELPDESK_PULLERS

    return HELPDESK_PULLERS[kind]


def run_connector(ctx: PullContext, connector: Claimed) -> dict[str, Any] | None:
    """Run one leased connector and record the run; never raises for the connector's faults.

    None when the connector was deleted while it ran.
    """
    started = datetime.now(UTC)
    counts = RunCounts()
    error: str | None = None
    try:
        puller(connector.kind)(ctx, connector, counts)
    # Anything one connector raises is its run's error, not the task's: the others go on.
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
        log.warning(
            "connector run failed",
            extra={"connector_id": str(connector.id), "kind": connector.kind, "error": error},
        )
    with ctx.db.transaction() as conn:
        return connectors_store.finish_run(conn, connector, started, counts, error)


def run_due(ctx: PullContext, limit: int = 20) -> list[dict[str, Any]]:
    """Run every due pull connector (up to ``limit``), one after another, each isolated.

    Returns the recorded runs (a connector deleted while it ran has none).
    """
    with ctx.db.transaction() as conn:
        claimed = connectors_store.claim_due(conn, limit, LEASE_S)
    runs = [run_connector(ctx, c) for c in claimed]
    return [r for r in runs if r is not None]
