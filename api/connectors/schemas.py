"""Request and response bodies of /v1/connectors."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from api.schemas import StorableStr

Name = Annotated[StorableStr, Field(min_length=1, max_length=100)]
Secret = Annotated[StorableStr, Field(min_length=1, max_length=1000)]
Priority = Literal["p1", "p2", "p3", "p4"]
Interval = Annotated[int, Field(ge=10, le=86400, description="Seconds between pulls.")]

# The fields of each kind that are credentials: encrypted at rest, never returned.
SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    "imap": ("password",),
    "folder": (),
    "zendesk": ("api_token", "webhook_secret"),
    "freshdesk": ("api_key", "webhook_secret"),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImapConfig(_Strict):
    """A mailbox whose new messages become ``email`` feedback."""

    host: Annotated[
        str,
        Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$"),
    ] = Field(description="A host name or IPv4 address.")
    port: Annotated[int, Field(ge=1, le=65535)] = 993
    security: Literal["tls", "starttls", "none"] = Field(
        default="tls", description="Implicit TLS (993), STARTTLS (143), or none (tests only)."
    )
    username: Annotated[StorableStr, Field(min_length=1, max_length=320)]
    password: Secret
    mailbox: Annotated[StorableStr, Field(min_length=1, max_length=200)] = "INBOX"
    source: Name = "imap"
    language: Literal["vi", "en"] | None = None


class FolderConfig(_Strict):
    """A folder under LANGNGHE_CONNECTOR_FOLDER_ROOT where CSV/JSONL files are dropped."""

    path: Annotated[StorableStr, Field(min_length=1, max_length=500)]
    source: Name = "folder"


class _HelpdeskConfig(_Strict):
    base_url: AnyHttpUrl = Field(description="e.g. https://acme.zendesk.com")
    webhook_secret: Secret = Field(
        description="Zendesk: the webhook's signing secret. Freshdesk: a token you choose, "
        "sent by the automation rule in the X-Langnghe-Webhook-Token header."
    )
    min_priority: Priority = Field(default="p2", description="Tickets from this priority up.")
    categories: list[Name] = Field(
        default_factory=list, max_length=50, description="Only these categories (none: all)."
    )
    dashboard_url: AnyHttpUrl | None = Field(
        default=None, description="Where the dashboard is served, for a link in the ticket."
    )
    pull: bool = Field(
        default=False,
        description="Also pull tickets and their public customer comments in as feedback, "
        "every interval_s (tickets langnghe created are left out).",
    )
    pull_days: Annotated[int, Field(ge=1, le=3650)] = Field(
        default=30, description="The first pull reads tickets updated in these last days."
    )
    language: Literal["vi", "en"] | None = Field(
        default=None, description="The language of pulled items, if known."
    )


class ZendeskConfig(_HelpdeskConfig):
    """Zendesk Support: tickets by API token, status back by a signed webhook."""

    source: Name = "zendesk"

    email: Annotated[StorableStr, Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]
    api_token: Secret


class FreshdeskConfig(_HelpdeskConfig):
    """Freshdesk: tickets by API key, status back by an automation-rule webhook."""

    source: Name = "freshdesk"

    api_key: Secret
    requester_email: Annotated[
        StorableStr, Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    ] = Field(description="The requester when the complaint's customer_ref is no e-mail.")


class ImapIn(_Strict):
    """A new IMAP connector."""

    kind: Literal["imap"]
    name: Name
    interval_s: Interval = 300
    config: ImapConfig


class FolderIn(_Strict):
    """A new drop-folder connector."""

    kind: Literal["folder"]
    name: Name
    interval_s: Interval = 300
    config: FolderConfig


class ZendeskIn(_Strict):
    """A new Zendesk connector."""

    kind: Literal["zendesk"]
    name: Name
    interval_s: Interval = 300
    config: ZendeskConfig


class FreshdeskIn(_Strict):
    """A new Freshdesk connector."""

    kind: Literal["freshdesk"]
    name: Name
    interval_s: Interval = 300
    config: FreshdeskConfig


ConnectorIn = Annotated[ImapIn | FolderIn | ZendeskIn | FreshdeskIn, Field(discriminator="kind")]


class Rejection(BaseModel):
    """An item a run refused, and why."""

    item: str = Field(description="Which: file:line, an IMAP UID, a help-desk external id.")
    reason: str = Field(description="The validation's ``code: message``, or the error.")


class RunOut(BaseModel):
    """One run of a pull connector."""

    id: int
    started_at: datetime
    finished_at: datetime
    status: Literal["ok", "error"]
    fetched: int
    accepted: int
    duplicates: int
    rejected: int
    rejections: list[Rejection] = Field(
        description="The first 20 rejected items of the run, with their reasons."
    )
    error: str | None


class ConnectorOut(BaseModel):
    """A connector as stored: credentials only as their masked tails."""

    id: UUID
    kind: Literal["imap", "folder", "zendesk", "freshdesk"]
    name: str
    config: dict[str, Any]
    secrets: dict[str, str] = Field(description="Each credential's last characters, masked.")
    cursor: dict[str, Any]
    interval_s: int
    next_run_at: datetime
    running: bool
    created_at: datetime
    last_run: RunOut | None
    totals: dict[str, int]
    tickets: dict[str, int] | None = Field(
        description="Help desks: their tickets by state (pending, created, dead)."
    )
    webhook_path: str | None = Field(
        description="Help desks: where their status webhooks are to be sent (POST)."
    )


class ConnectorList(BaseModel):
    """The tenant's connectors."""

    items: list[ConnectorOut]


class TicketOut(BaseModel):
    """A complaint's ticket in a help desk."""

    complaint_id: UUID
    state: Literal["pending", "created", "dead"]
    ticket_id: str | None
    ticket_status: str | None
    attempts: int
    last_error: str | None
    created_at: datetime
    updated_at: datetime


class TicketList(BaseModel):
    """A help-desk connector's tickets, newest first."""

    items: list[TicketOut]


class StatusChangeOut(BaseModel):
    """What a help desk's status webhook did to the complaint."""

    complaint_id: UUID
    ticket_id: str
    ticket_status: str
    action: Literal["resolve", "reopen"] | None
