"""Notification alerts, renderers, the catalogue and quiet hours, as plain functions."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

import pytest

from tests.integration.chat_servers import slack_problems, teams_problems
from workers.notification_text import LANGUAGES, MESSAGES
from workers.notifications import (
    Lookups,
    alert_for,
    digest_slot,
    email_message,
    quiet_until,
    slack_message,
    teams_message,
)

EVENTS: list[tuple[str, dict[str, Any]]] = [
    (
        "complaint.flagged",
        {
            "complaint_id": "c1",
            "feedback_id": "f1",
            "priority": "p1",
            "category": "delivery",
            "channel": "social",
            "language": "vi",
            "customer_ref": "cust-9",
            "sla_due_at": "2026-12-02T09:00:00+00:00",
        },
    ),
    (
        "complaint.flagged",
        {
            "complaint_id": "c2",
            "kind": "recovery",
            "feedback_id": None,
            "customer_ref": "cust-7",
            "priority": "p2",
            "risk_score": 0.81,
            "segment": "detractor",
            "suggested_action": "call",
        },
    ),
    (
        "signal.csat_drop",
        {
            "segment": {"channel": "review", "language": "vi"},
            "recent": {"inferred_csat_pct": 61.2},
            "baseline": {"inferred_csat_pct": 78.4},
            "drop_pct_points": 17.2,
        },
    ),
    (
        "topic.emerging",
        {
            "topic_id": 4,
            "label": "giao hàng trễ",
            "keywords": ["giao", "trễ"],
            "count": 42,
            "window_days": 7,
            "baseline_mean": 6.5,
        },
    ),
    (
        "customer.at_risk",
        {
            "customer_ref": "cust-3",
            "risk_score": 0.9,
            "segment": "detractor",
            "silent": True,
            "reasons": [{"code": "csat_falling"}],
        },
    ),
]
LOOKUPS = Lookups(
    texts={"f1": "Hàng giao trễ 5 ngày <b>&</b> không ai trả lời"},
    segments={"cust-9": "passive"},
    time_zone="Asia/Ho_Chi_Minh",
)


def test_every_catalogue_entry_has_every_language() -> None:
    for key, texts in MESSAGES.items():
        assert set(texts) == set(LANGUAGES), key
        assert all(texts[lang].strip() for lang in LANGUAGES), key


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_event_renders_to_valid_slack_teams_and_email(language: Any) -> None:
    alerts = [alert_for(t, d, language, LOOKUPS, "https://x.vn") for t, d in EVENTS]
    assert slack_problems(slack_message(alerts, language, "ops")) == []
    assert teams_problems(teams_message(alerts, language, "ops")) == []
    mail = email_message(alerts, language, "ops", {"from_address": "a@x.vn", "to": ["b@x.vn"]})
    assert mail["Content-Language"] == language
    complaint, recovery, drop, topic, risk = alerts
    assert complaint.link == "https://x.vn/dashboard/inbox/c1"
    # The segment comes from the customer's profile when the event has none.
    segment = "passive" if language == "en" else "trung lập"
    assert segment in dict(complaint.facts).values()
    # The answer-by time is shown in the tenant's zone (09:00 UTC is 16:00 there).
    assert "2026-12-02 16:00 (Asia/Ho_Chi_Minh)" in dict(complaint.facts).values()
    assert recovery.title.startswith(
        "Silent detractor" if language == "en" else "Khách hàng im lặng"
    )
    assert "61.2" in drop.facts[0][1] and "78.4" in drop.facts[0][1]
    assert topic.link == "https://x.vn/dashboard/topics/4" and "giao hàng trễ" in topic.title
    assert "cust-3" in risk.title


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    ("segment", "page"),
    [
        ({"topic_id": 7, "label": "giao hàng trễ"}, "topics/7"),
        ({"theme_id": 3, "label": "giao hàng trễ"}, "themes/3"),
    ],
)
def test_a_topic_or_theme_csat_drop_names_it_and_links_to_it(
    language: Any, segment: dict[str, Any], page: str
) -> None:
    data = {**EVENTS[2][1], "segment": segment}
    alert = alert_for("signal.csat_drop", data, language, LOOKUPS, "https://x.vn")
    assert "giao hàng trễ" in alert.title and "None" not in alert.title
    assert alert.link == f"https://x.vn/dashboard/{page}"
    assert slack_problems(slack_message([alert], language, "ops")) == []


def test_slack_text_is_escaped_and_long_texts_are_cut() -> None:
    alert = alert_for(*EVENTS[0], "en", LOOKUPS, "")
    section = slack_message([alert], "en", "ops")["blocks"][1]["text"]["text"]
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in section and alert.link is None
    long = Lookups(texts={"f1": "x" * 2000})
    quote = alert_for(*EVENTS[0], "en", long, "").quote
    assert quote is not None and len(quote) == 500 and quote.endswith("…")


def test_no_alert_for_an_event_a_channel_cannot_carry() -> None:
    with pytest.raises(ValueError):
        alert_for("feedback.analyzed", {}, "en", Lookups(), "")


ZONE = "Asia/Ho_Chi_Minh"  # UTC+7, no daylight saving


@pytest.mark.parametrize(
    ("now_utc", "start", "end", "until_utc"),
    [
        # 23:30 local, quiet 22:00-07:00 (wraps midnight): until 07:00 next local day.
        ("2026-12-01T16:30", time(22), time(7), "2026-12-02T00:00"),
        # 03:00 local, same quiet hours: until 07:00 the same local day.
        ("2026-12-01T20:00", time(22), time(7), "2026-12-02T00:00"),
        # 12:00 local: not quiet.
        ("2026-12-01T05:00", time(22), time(7), None),
        # 12:30 local, quiet 12:00-13:00: until 13:00.
        ("2026-12-01T05:30", time(12), time(13), "2026-12-01T06:00"),
        # Exactly the end: no longer quiet.
        ("2026-12-01T06:00", time(12), time(13), None),
    ],
)
def test_quiet_hours_in_the_tenants_zone(
    now_utc: str, start: time, end: time, until_utc: str | None
) -> None:
    now = datetime.fromisoformat(now_utc).replace(tzinfo=UTC)
    until = quiet_until(now, ZONE, start, end)
    expected = datetime.fromisoformat(until_utc).replace(tzinfo=UTC) if until_utc else None
    assert until == expected
    assert quiet_until(now, ZONE, None, None) is None


@pytest.mark.parametrize(
    ("now_utc", "period", "slot_utc"),
    [
        # 08:00 local is 01:00 UTC. At 10:00 local: today's slot.
        ("2026-12-02T03:00", "daily", "2026-12-02T01:00"),
        # At 07:00 local: yesterday's.
        ("2026-12-02T00:00", "daily", "2026-12-01T01:00"),
        # Wednesday 2026-12-02: the week's slot was Monday 2026-11-30.
        ("2026-12-02T03:00", "weekly", "2026-11-30T01:00"),
        # Monday before 08:00 local: the previous Monday's.
        ("2026-11-30T00:30", "weekly", "2026-11-23T01:00"),
    ],
)
def test_digest_slots_in_the_tenants_zone(now_utc: str, period: str, slot_utc: str) -> None:
    now = datetime.fromisoformat(now_utc).replace(tzinfo=UTC)
    expected = datetime.fromisoformat(slot_utc).replace(tzinfo=UTC)
    assert digest_slot(now, ZONE, period, 8) == expected


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_digest_renders_everywhere(language: Any) -> None:
    data = {
        "period": "weekly",
        "open_p1": 2,
        "open_p2": 5,
        "sla_breaches": 1,
        "oldest_unanswered": [
            {
                "complaint_id": "c9",
                "priority": "p1",
                "category": "delivery",
                "flagged_at": "2026-11-30T02:00:00+00:00",
            }
        ],
    }
    alert = alert_for("digest.support", data, language, LOOKUPS, "https://x.vn")
    assert slack_problems(slack_message([alert], language, "ops")) == []
    assert teams_problems(teams_message([alert], language, "ops")) == []
    facts = dict(alert.facts)
    assert list(facts.values())[:3] == ["2", "5", "1"]
    assert "2026-11-30 09:00 (Asia/Ho_Chi_Minh)" in facts["P1 · delivery"]
    assert "https://x.vn/dashboard/inbox/c9" in facts["P1 · delivery"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_analyst_digest_renders_everywhere(language: Any) -> None:
    now = {"n": 40, "csat": 3.2, "nps": -12.5}
    data = {
        "period": "weekly",
        "days": 7,
        "top_topics": [{"topic_id": 4, "label": "giao hàng trễ", "current": 12, "previous": 5}],
        "segments": [
            {"segment": "detractor", "current": now, "previous": None},
            {"segment": "passive", "current": None, "previous": now},  # nothing this week
            {"segment": "all", "current": now, "previous": {"n": 30, "csat": 3.9, "nps": 8.0}},
        ],
        "emerging": [
            {
                "topic_id": 4,
                "label": "giao hàng trễ",
                "kind": "volume",
                "current": 12.0,
                "baseline_mean": 2.5,
            }
        ],
    }
    alert = alert_for("digest.analyst", data, language, LOOKUPS, "https://x.vn")
    assert slack_problems(slack_message([alert], language, "ops")) == []
    assert teams_problems(teams_message([alert], language, "ops")) == []
    facts = list(alert.facts)
    assert len(facts) == 4  # one topic, two segments with items this week, one emerging
    assert "12" in facts[0][1] and "+7" in facts[0][1] and "giao hàng trễ" in facts[0][0]
    assert "NPS -12" in facts[1][1] and "NPS +8" in facts[2][1]
    assert alert.link == "https://x.vn/dashboard/topics"
    assert alert.title == (
        "Weekly CX analyst digest"
        if language == "en"
        else "Tóm tắt phân tích trải nghiệm khách hàng hằng tuần"
    )
