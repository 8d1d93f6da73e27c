"""Request and response bodies of the notification channels API."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.schemas import StorableStr

Kind = Literal["slack", "teams", "email"]
EventType = Literal["complaint.flagged", "signal.csat_drop", "topic.emerging", "customer.at_risk"]
Priority = Literal["p1", "p2", "p3", "p4"]
DigestAudience = Literal["support", "analyst"]
Language = Literal["en", "vi"]
# An e-mail address, checked only for shape: the SMTP server is the judge of the rest.
Address = Annotated[
    StorableStr, StringConstraints(pattern=r"^[^@\s<>,;]+@[^@\s<>,;]+$", max_length=254)
]


class SmtpIn(BaseModel):
    """An SMTP server and the message envelope; the password is stored encrypted."""

    model_config = ConfigDict(extra="forbid")

    host: StorableStr = Field(min_length=1, max_length=255)
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description="starttls: upgrade a plain connection (port 587); tls: TLS from the start "
        "(port 465); none: no encryption, only without credentials (a local relay).",
    )
    username: StorableStr | None = Field(default=None, max_length=200)
    password: StorableStr | None = Field(
        default=None, max_length=500, description="Write-only: encrypted, never shown again."
    )
    from_address: Address
    to: list[Address] = Field(min_length=1, max_length=50)


class SmtpOut(BaseModel):
    """The SMTP settings as shown: no password."""

    host: str
    port: int
    security: str
    username: str | None
    from_address: str
    to: list[str]


class QuietHours(BaseModel):
    """Wall-clock times in the tenant's time zone; start after end wraps midnight."""

    model_config = ConfigDict(extra="forbid")

    start: time
    end: time


class Routing(BaseModel):
    """Which events go to a channel; an unset rule matches everything."""

    model_config = ConfigDict(extra="forbid")

    event_types: list[EventType] = Field(
        default=["complaint.flagged", "signal.csat_drop", "topic.emerging", "customer.at_risk"],
        min_length=1,
    )
    min_priority: Priority | None = Field(
        default=None, description="Only this priority or more urgent (events without one pass)."
    )
    categories: list[Annotated[StorableStr, Field(max_length=100)]] | None = Field(
        default=None, min_length=1, max_length=100, description="Complaint categories."
    )
    languages: list[Language] | None = Field(default=None, min_length=1)
    quiet_hours: QuietHours | None = None
    max_per_minute: int = Field(
        default=6, ge=1, le=600, description="More messages wait and go out batched."
    )
    digest: Literal["daily", "weekly"] | None = Field(
        default=None,
        description="A scheduled digest, daily or on Mondays, at digest_hour in the tenant's "
        "time zone; digest_audiences says which.",
    )
    digest_hour: int = Field(default=8, ge=0, le=23)
    digest_audiences: list[DigestAudience] = Field(
        default=["support"],
        min_length=1,
        description="support: open P1/P2, SLA breaches, oldest unanswered. analyst: top "
        "topics and their movement, CSAT/NPS by segment, emerging topics.",
    )


class ChannelIn(Routing):
    """A new channel: Slack or Teams with its webhook URL, or e-mail with its SMTP server."""

    kind: Kind
    name: StorableStr = Field(min_length=1, max_length=200)
    language: Language = "en"
    enabled: bool = True
    webhook_url: StorableStr | None = Field(
        default=None,
        max_length=2000,
        description="Slack incoming webhook or Teams workflow URL (write-only: it is the "
        "credential).",
    )
    smtp: SmtpIn | None = None


class ChannelPatch(BaseModel):
    """Change a channel; fields left out stay; null clears a rule."""

    model_config = ConfigDict(extra="forbid")

    name: StorableStr | None = Field(default=None, min_length=1, max_length=200)
    language: Language | None = None
    enabled: bool | None = None
    webhook_url: StorableStr | None = Field(default=None, max_length=2000)
    smtp: SmtpIn | None = None
    event_types: list[EventType] | None = Field(default=None, min_length=1)
    min_priority: Priority | None = None
    categories: list[Annotated[StorableStr, Field(max_length=100)]] | None = Field(
        default=None, min_length=1, max_length=100
    )
    languages: list[Language] | None = Field(default=None, min_length=1)
    quiet_hours: QuietHours | None = None
    max_per_minute: int | None = Field(default=None, ge=1, le=600)
    digest: Literal["daily", "weekly"] | None = None
    digest_hour: int | None = Field(default=None, ge=0, le=23)
    digest_audiences: list[DigestAudience] | None = Field(default=None, min_length=1)


class ChannelOut(BaseModel):
    """A channel as shown: its secret only as a masked tail."""

    id: UUID
    kind: Kind
    name: str
    language: Language
    enabled: bool
    secret_hint: str | None = Field(description="The last characters of the stored secret.")
    smtp: SmtpOut | None
    event_types: list[str]
    min_priority: str | None
    categories: list[str] | None
    languages: list[str] | None
    quiet_hours: QuietHours | None
    max_per_minute: int
    digest: str | None
    digest_hour: int
    digest_audiences: list[str]
    created_at: datetime


class TestSendOut(BaseModel):
    """How a test message went."""

    ok: bool
    status_code: int | None
    error: str | None


class NotificationSettings(BaseModel):
    """The tenant's time zone, in which quiet hours are read."""

    model_config = ConfigDict(extra="forbid")

    time_zone: StorableStr = Field(
        min_length=1, max_length=100, examples=["Asia/Ho_Chi_Minh"], description="IANA name."
    )
