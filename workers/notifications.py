"""Notification channels: outbox events as Slack, Microsoft Teams and e-mail messages.

A channel is a delivery target of the one webhook outbox (workers.delivery claims,
retries, dead-letters and logs its deliveries). This module adds what differs: the
channel's quiet hours and rate limit (deliveries wait, and are then gathered into one
message), the alerts an event becomes, their rendering as a Slack Block Kit message, a
Teams Adaptive Card or a MIME e-mail (plain text and HTML), and the sending.
"""

from __future__ import annotations

import html
import json
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, cast
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx

from langnghe.config import Settings
from langnghe.secrets import SecretBox, SecretKeyMissing, SecretUnreadable
from store import events as events_store
from store import notifications as notifications_store
from store.db import Conn, Database
from store.webhooks import DueDelivery
from workers.events import (
    COMPLAINT_FLAGGED,
    CUSTOMER_AT_RISK,
    DIGEST_ANALYST,
    DIGEST_SUPPORT,
    SIGNAL_CSAT_DROP,
    TOPIC_EMERGING,
)
from workers.notification_text import Language, t
from workers.ssrf import TargetGuard, UnsafeTarget
from workers.webhook_http import Attempt, Outcome, post

KINDS = ("slack", "teams", "email")
# The events a channel can carry: each has an alert below.
NOTIFIABLE = (COMPLAINT_FLAGGED, SIGNAL_CSAT_DROP, TOPIC_EMERGING, CUSTOMER_AT_RISK)
# Most alerts in one message: Slack takes at most 50 blocks (three per alert here).
MAX_BATCH = 15
# The stored text is quoted up to this many characters.
MAX_QUOTE = 500
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


@dataclass(frozen=True)
class Alert:
    """One event as people read it: a title, labelled facts, the quoted text, a link."""

    title: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    quote: str | None = None
    link: str | None = None


@dataclass(frozen=True)
class Lookups:
    """What the events do not carry: stored texts by feedback id, segments by customer,
    and the tenant's time zone (times are shown in it)."""

    texts: dict[str, str] = field(default_factory=dict)
    segments: dict[str, str] = field(default_factory=dict)
    time_zone: str = "UTC"


def _local(moment: str, zone: str) -> str:
    when = datetime.fromisoformat(moment).astimezone(ZoneInfo(zone))
    return f"{when:%Y-%m-%d %H:%M} ({zone})"


def _segment(value: str | None, language: Language) -> str | None:
    return t(f"segment.{value}", language) if value else None


def _link(public_url: str, path: str) -> str | None:
    return f"{public_url.rstrip('/')}{path}" if public_url else None


def _quote(text: str | None) -> str | None:
    if not text:
        return None
    return text if len(text) <= MAX_QUOTE else text[: MAX_QUOTE - 1] + "…"


def alert_for(
    event_type: str, data: dict[str, Any], language: Language, lookups: Lookups, public_url: str
) -> Alert:
    """The alert an outbox event becomes, in the channel's language."""
    if event_type == COMPLAINT_FLAGGED:
        ref = data.get("customer_ref")
        segment = data.get("segment") or (lookups.segments.get(ref) if ref else None)
        priority = str(data.get("priority", "")).upper()
        link = _link(public_url, f"/dashboard/inbox/{data['complaint_id']}")
        facts = [(t("field.priority", language), priority)]
        if data.get("kind") == "recovery":
            facts += [
                (t("field.customer", language), str(ref)),
                (t("field.risk", language), f"{float(data.get('risk_score', 0)):.0%}"),
                (t("field.action", language), str(data.get("suggested_action") or "—")),
            ]
            if segment:
                facts.append((t("field.segment", language), str(_segment(segment, language))))
            return Alert(t("complaint.recovery", language, priority=priority), facts, None, link)
        facts += [
            (t("field.category", language), str(data.get("category"))),
            (t("field.channel", language), str(data.get("channel"))),
            (t("field.language", language), str(data.get("language"))),
        ]
        if segment:
            facts.append((t("field.segment", language), str(_segment(segment, language))))
        if ref:
            facts.append((t("field.customer", language), str(ref)))
        if data.get("sla_due_at"):
            due = _local(str(data["sla_due_at"]), lookups.time_zone)
            facts.append((t("field.sla_due", language), due))
        title = t("complaint.flagged", language, priority=priority, category=data.get("category"))
        text = lookups.texts.get(str(data.get("feedback_id")))
        return Alert(title, facts, _quote(text), link)
    if event_type == SIGNAL_CSAT_DROP:
        seg = data.get("segment", {})
        value = t(
            "value.csat",
            language,
            recent=data["recent"]["inferred_csat_pct"],
            baseline=data["baseline"]["inferred_csat_pct"],
            drop=data["drop_pct_points"],
        )
        if "topic_id" in seg:
            title = t("signal.csat_drop.topic", language, label=seg.get("label"))
            link = _link(public_url, f"/dashboard/topics/{seg['topic_id']}")
        elif "theme_id" in seg:
            title = t("signal.csat_drop.theme", language, label=seg.get("label"))
            link = _link(public_url, f"/dashboard/themes/{seg['theme_id']}")
        else:
            title = t(
                "signal.csat_drop",
                language,
                channel=seg.get("channel"),
                item_language=seg.get("language"),
            )
            link = _link(public_url, "/dashboard/signals")
        return Alert(title, [(t("field.csat", language), value)], None, link)
    if event_type == TOPIC_EMERGING:
        count = t(
            "value.count",
            language,
            count=data.get("count"),
            days=data.get("window_days"),
            baseline=float(data.get("baseline_mean") or 0),
        )
        facts = [
            (t("field.keywords", language), ", ".join(data.get("keywords", [])[:8])),
            (t("field.count", language), count),
        ]
        link = _link(public_url, f"/dashboard/topics/{data.get('topic_id')}")
        return Alert(t("topic.emerging", language, label=data.get("label")), facts, None, link)
    if event_type == CUSTOMER_AT_RISK:
        key = "customer.at_risk.silent" if data.get("silent") else "customer.at_risk"
        facts = [(t("field.risk", language), f"{float(data.get('risk_score', 0)):.0%}")]
        if data.get("segment"):
            facts.append((t("field.segment", language), str(_segment(data["segment"], language))))
        reasons = [str(r.get("code")) for r in data.get("reasons", []) if isinstance(r, dict)]
        if reasons:
            facts.append((t("field.reasons", language), ", ".join(reasons)))
        return Alert(t(key, language, customer=data.get("customer_ref")), facts, None, None)
    if event_type == DIGEST_SUPPORT:
        facts = [
            (t("field.open_p1", language), str(data["open_p1"])),
            (t("field.open_p2", language), str(data["open_p2"])),
            (t("field.sla_breaches", language), str(data["sla_breaches"])),
        ]
        for item in data["oldest_unanswered"]:
            path = f"/dashboard/inbox/{item['complaint_id']}"
            since = _local(item["flagged_at"], lookups.time_zone)
            facts.append(
                (
                    f"{str(item['priority']).upper()} · {item['category']}",
                    t(
                        "value.unanswered",
                        language,
                        since=since,
                        link=_link(public_url, path) or path,
                    ),
                )
            )
        link = _link(public_url, "/dashboard/inbox?overdue=1")
        return Alert(t(f"digest.{data['period']}", language), facts, None, link)
    if event_type == DIGEST_ANALYST:
        return analyst_digest(data, language, public_url)
    raise ValueError(f"no alert for event type {event_type!r}")


def analyst_digest(data: dict[str, Any], language: Language, public_url: str) -> Alert:
    """The CX analyst's digest: top topics with their movement, CSAT/NPS by segment, and
    the topics that emerged, each a labelled fact."""
    facts: list[tuple[str, str]] = []
    for rank, topic in enumerate(data["top_topics"], 1):
        facts.append(
            (
                t("field.top_topic", language, rank=rank, label=topic["label"]),
                t(
                    "value.topic_movement",
                    language,
                    current=topic["current"],
                    previous=topic["previous"],
                    delta=topic["current"] - topic["previous"],
                    period=t(f"period.before.{data['period']}", language),
                ),
            )
        )
    if not data["top_topics"]:
        facts.append((t("field.no_topics", language), t("value.none", language)))
    for entry in data["segments"]:
        now, before = entry["current"], entry["previous"]
        if now is None:
            continue
        earlier = (
            t("value.scores_before", language, **before) if before else t("value.none", language)
        )
        facts.append(
            (
                t(
                    "field.segment_scores",
                    language,
                    segment=t(f"segment.{entry['segment']}", language),
                ),
                t("value.scores", language, before=earlier, **now),
            )
        )
    for topic in data["emerging"]:
        facts.append(
            (
                t("field.emerging", language, label=topic["label"]),
                t(
                    "value.emerging",
                    language,
                    current=topic["current"],
                    baseline=topic["baseline_mean"],
                ),
            )
        )
    link = _link(public_url, "/dashboard/topics")
    return Alert(t(f"digest.analyst.{data['period']}", language), facts, None, link)


def test_alert(language: Language) -> Alert:
    """The message a test-send sends."""
    return Alert(t("test", language))


# --- Rendering --------------------------------------------------------------------------


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn treats these three as control characters (its "Formatting text" page).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _heading(alerts: Sequence[Alert], language: Language) -> str:
    return alerts[0].title if len(alerts) == 1 else t("batch.subject", language, count=len(alerts))


def slack_message(alerts: Sequence[Alert], language: Language, name: str) -> dict[str, Any]:
    """A Slack incoming-webhook body: Block Kit ``blocks`` and the ``text`` fallback."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _heading(alerts, language)[:150]}}
    ]
    for alert in alerts:
        title = _slack_escape(alert.title)
        lines = [f"*<{alert.link}|{title}>*" if alert.link else f"*{title}*"]
        if alert.quote:
            lines.append("\n".join(f">{_slack_escape(x)}" for x in alert.quote.splitlines()))
        section: dict[str, Any] = {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "\n".join(lines)[:3000]},
        }
        if alert.facts:
            section["fields"] = [
                {"type": "mrkdwn", "text": f"*{_slack_escape(k)}*\n{_slack_escape(v)}"[:2000]}
                for k, v in alert.facts[:10]
            ]
        blocks += [section, {"type": "divider"}]
    blocks[-1] = {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": _slack_escape(t("footer", language, name=name))}],
    }
    text = "\n".join(a.title for a in alerts)
    return {"text": text, "blocks": blocks}


def teams_message(alerts: Sequence[Alert], language: Language, name: str) -> dict[str, Any]:
    """A Teams workflow-webhook body: one Adaptive Card (1.4) in ``attachments``."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": _heading(alerts, language),
            "weight": "Bolder",
            "size": "Large",
            "wrap": True,
        }
    ]
    for alert in alerts:
        body.append(
            {
                "type": "TextBlock",
                "text": alert.title,
                "weight": "Bolder",
                "wrap": True,
                "separator": True,
            }
        )
        if alert.quote:
            body.append({"type": "TextBlock", "text": alert.quote, "wrap": True, "isSubtle": True})
        if alert.facts:
            body.append(
                {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in alert.facts]}
            )
        if alert.link:
            body.append(
                {
                    "type": "ActionSet",
                    "actions": [
                        {"type": "Action.OpenUrl", "title": t("open", language), "url": alert.link}
                    ],
                }
            )
    footer = t("footer", language, name=name)
    body.append({"type": "TextBlock", "text": footer, "size": "Small", "wrap": True})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": card}],
    }


def email_message(
    alerts: Sequence[Alert], language: Language, name: str, config: dict[str, Any]
) -> EmailMessage:
    """A MIME e-mail: a plain-text part and an HTML alternative, in the channel's language."""
    message = EmailMessage()
    message["Subject"] = _heading(alerts, language)
    message["From"] = config["from_address"]
    message["To"] = ", ".join(config["to"])
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="langnghe")
    text_parts: list[str] = []
    html_parts: list[str] = []
    for alert in alerts:
        lines = [alert.title, "=" * min(len(alert.title), 72)]
        if alert.quote:
            lines += [f"> {x}" for x in alert.quote.splitlines()]
        lines += [f"{k}: {v}" for k, v in alert.facts]
        if alert.link:
            lines.append(f"{t('open', language)}: {alert.link}")
        text_parts.append("\n".join(lines))
        e = html.escape
        title = f'<a href="{e(alert.link)}">{e(alert.title)}</a>' if alert.link else e(alert.title)
        quote = f"<blockquote>{e(alert.quote)}</blockquote>" if alert.quote else ""
        rows = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in alert.facts)
        html_parts.append(f"<h2>{title}</h2>{quote}<table>{rows}</table>")
    footer = t("footer", language, name=name)
    message.set_content("\n\n".join(text_parts) + f"\n\n-- \n{footer}\n")
    message.add_alternative(
        f'<!doctype html><html lang="{language}"><head><meta charset="utf-8"></head><body>'
        + "".join(html_parts)
        + f"<p><small>{html.escape(footer)}</small></p></body></html>",
        subtype="html",
    )
    # Set last: set_content drops the Content-* headers already there.
    message["Content-Language"] = language
    return message


# --- Sending ----------------------------------------------------------------------------


def send_email(
    config: dict[str, Any],
    password: str | None,
    message: EmailMessage,
    timeout_s: float,
    guard: TargetGuard | None = None,
) -> Outcome:
    """Send over SMTP with the channel's security; each network step waits ``timeout_s``."""
    host, port = str(config["host"]), int(config["port"])
    if guard is not None:
        try:
            guard.check_host(host, port)
        except UnsafeTarget as exc:
            return Outcome(None, f"refused by the SSRF guard: {exc}")
    context = ssl.create_default_context()
    try:
        smtp = (
            smtplib.SMTP_SSL(host, port, timeout=timeout_s, context=context)
            if config["security"] == "tls"
            else smtplib.SMTP(host, port, timeout=timeout_s)
        )
        with smtp:
            if config["security"] == "starttls":
                smtp.starttls(context=context)
            if config.get("username"):
                smtp.login(str(config["username"]), password or "")
            smtp.send_message(message)
    except smtplib.SMTPResponseException as exc:
        raw = exc.smtp_error
        reply = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return Outcome(exc.smtp_code, f"SMTP {exc.smtp_code}: {reply}"[:500])
    except (smtplib.SMTPException, OSError, UnicodeError) as exc:
        return Outcome(None, f"{type(exc).__name__}: {exc}"[:500])
    return Outcome(250, None)


@dataclass(frozen=True)
class Batch:
    """The deliveries of one channel to send as one message, with what rendering needs."""

    channel: dict[str, Any]
    deliveries: list[DueDelivery]
    lookups: Lookups


def quiet_until(now: datetime, zone: str, start: time | None, end: time | None) -> datetime | None:
    """When the quiet hours around ``now`` end (UTC), or None when ``now`` is not in them.

    ``start``/``end`` are wall-clock times in the tenant's zone; start after end means the
    quiet hours wrap midnight (22:00–07:00).
    """
    if start is None or end is None or start == end:
        return None
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    clock = local.time().replace(tzinfo=None)
    inside = start <= clock < end if start < end else clock >= start or clock < end
    if not inside:
        return None
    day = local.date() if clock < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=tz).astimezone(UTC)


def digest_slot(now: datetime, zone: str, period: str, hour: int) -> datetime:
    """The latest scheduled digest time at or before ``now`` (UTC): ``hour`` o'clock in the
    tenant's zone, every day, or on Mondays for a weekly digest."""
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    day = local.date() - timedelta(days=local.weekday() if period == "weekly" else 0)
    slot = datetime.combine(day, time(hour), tzinfo=tz)
    if slot > local:
        slot = datetime.combine(
            day - timedelta(days=7 if period == "weekly" else 1), time(hour), tzinfo=tz
        )
    return slot.astimezone(UTC)


def queue_digests(db: Database, now: datetime | None = None) -> int:
    """Queue each channel's digest whose slot has come, once; return how many.

    A digest is a ``digest.support`` or ``digest.analyst`` event (one per audience of the
    channel) in the outbox, so webhook subscribers of ``*`` see it too, delivered to its
    channel only, with the same retries and log.
    """
    now = now or datetime.now(UTC)
    queued = 0
    with db.transaction() as conn:
        channels = notifications_store.digest_channels(conn)
    for channel in channels:
        slot = digest_slot(now, channel["time_zone"], channel["digest"], channel["digest_hour"])
        if channel["digest_last_at"] is not None and channel["digest_last_at"] >= slot:
            continue
        with db.transaction() as conn:
            if not notifications_store.claim_digest(conn, channel["id"], slot):
                continue
            base = {
                "channel_id": str(channel["id"]),
                "period": channel["digest"],
                "slot": slot.isoformat(),
            }
            events = []
            if "support" in channel["digest_audiences"]:
                summary = notifications_store.support_summary(conn, channel["tenant_id"])
                events.append(events_store.NewEvent(DIGEST_SUPPORT, base | summary))
            if "analyst" in channel["digest_audiences"]:
                days = 7 if channel["digest"] == "weekly" else 1
                summary = notifications_store.analyst_summary(conn, channel["tenant_id"], now, days)
                events.append(events_store.NewEvent(DIGEST_ANALYST, base | summary))
            for event_id in events_store.append_events(conn, channel["tenant_id"], events):
                notifications_store.queue_delivery(
                    conn, channel["tenant_id"], channel["id"], event_id
                )
        queued += len(events)
    return queued


@dataclass(frozen=True)
class Notifier:
    """Sends channel batches; holds the key box and the dashboard's public URL."""

    box: SecretBox | None
    public_url: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> Notifier:
        """The notifier the settings describe; without LANGNGHE_SECRET_KEY, sends fail."""
        try:
            box: SecretBox | None = SecretBox(settings.secret_key)
        except SecretKeyMissing:
            box = None
        return cls(box, settings.public_url)

    def plan(
        self, conn: Conn, channel_id: UUID, claimed: list[DueDelivery], lease_s: float
    ) -> Batch | float | None:
        """The batch to send now, seconds to wait (quiet hours, rate limit), or None (gone).

        The claimed deliveries are joined by the channel's other due ones, up to
        MAX_BATCH, so that what waited goes out as one message.
        """
        channel = notifications_store.channel_for_sending(conn, channel_id)
        if channel is None:
            return None
        now = datetime.now(UTC)
        until = quiet_until(now, channel["time_zone"], channel["quiet_start"], channel["quiet_end"])
        if until is not None:
            return (until - now).total_seconds()
        # The slot first: over the limit, only the claimed deliveries are given back.
        wait = notifications_store.take_send_slot(conn, channel_id)
        if wait > 0:
            return wait
        more = MAX_BATCH - len(claimed)
        deliveries = claimed[:MAX_BATCH]
        if more > 0:
            deliveries += notifications_store.claim_backlog(
                conn, channel_id, [d.id for d in claimed], more, lease_s
            )
        tenant_id = channel["tenant_id"]
        ids = [UUID(d.data["feedback_id"]) for d in deliveries if d.data.get("feedback_id")]
        refs = [str(d.data["customer_ref"]) for d in deliveries if d.data.get("customer_ref")]
        lookups = Lookups(
            texts=notifications_store.feedback_texts(conn, tenant_id, ids),
            segments=notifications_store.segments(conn, tenant_id, refs),
            time_zone=channel["time_zone"],
        )
        return Batch(channel, deliveries, lookups)

    def secret(self, channel: dict[str, Any]) -> str | None:
        """The channel's decrypted secret (None when it has none); SecretKeyMissing/Unreadable."""
        if channel.get("secret_enc") is None:
            return None
        if self.box is None:
            raise SecretKeyMissing()
        return self.box.decrypt(channel["secret_enc"])

    def send(
        self,
        client: httpx.Client,
        attempt: Attempt,
        channel: dict[str, Any],
        alerts: Sequence[Alert],
        timeout_s: float,
        guard: TargetGuard | None,
    ) -> Outcome:
        """Render ``alerts`` as one message for the channel and send it."""
        try:
            secret = self.secret(channel)
        except (SecretKeyMissing, SecretUnreadable) as exc:
            return Outcome(None, str(exc))
        language = cast(Language, channel["language"])
        if channel["kind"] == "email":
            message = email_message(alerts, language, channel["name"], channel["config"])
            return send_email(channel["config"], secret, message, timeout_s, guard)
        assert secret is not None  # Slack and Teams channels are created with their URL
        render = slack_message if channel["kind"] == "slack" else teams_message
        body = json.dumps(render(alerts, language, channel["name"]), ensure_ascii=False)
        outcome = post(
            client,
            attempt,
            secret,
            body.encode("utf-8"),
            {"Content-Type": "application/json"},
            timeout_s,
            guard,
        )
        # The webhook URL is the credential: no error names it.
        if outcome.error and secret in outcome.error:
            shown = outcome.error.replace(secret, "<webhook URL>")
            return Outcome(outcome.status, shown, outcome.retry_after_s)
        return outcome

    def send_batch(
        self,
        client: httpx.Client,
        attempt: Attempt,
        batch: Batch,
        timeout_s: float,
        guard: TargetGuard | None,
    ) -> Outcome:
        """Send a planned batch as one message."""
        language = cast(Language, batch.channel["language"])
        alerts = [
            alert_for(d.event_type, d.data, language, batch.lookups, self.public_url)
            for d in batch.deliveries
        ]
        return self.send(client, attempt, batch.channel, alerts, timeout_s, guard)
