"""The message catalogue of notifications: every string a channel shows, in English and
Vietnamese. Renderers look strings up here by key; nothing else holds message text."""

from __future__ import annotations

from typing import Any, Literal

Language = Literal["en", "vi"]
LANGUAGES: tuple[Language, ...] = ("en", "vi")

MESSAGES: dict[str, dict[Language, str]] = {
    "complaint.flagged": {
        "en": "Flagged complaint · {priority} · {category}",
        "vi": "Khiếu nại cần xử lý · {priority} · {category}",
    },
    "complaint.recovery": {
        "en": "Silent detractor: recovery case · {priority}",
        "vi": "Khách hàng im lặng không hài lòng: cần chăm sóc lại · {priority}",
    },
    "signal.csat_drop": {
        "en": "CSAT drop: {channel} / {item_language}",
        "vi": "CSAT giảm: {channel} / {item_language}",
    },
    "signal.csat_drop.topic": {
        "en": "CSAT drop in a topic: {label}",
        "vi": "CSAT giảm trong chủ đề: {label}",
    },
    "signal.csat_drop.theme": {
        "en": "CSAT drop in a theme: {label}",
        "vi": "CSAT giảm trong nhóm chủ đề: {label}",
    },
    "topic.emerging": {
        "en": "Emerging topic: {label}",
        "vi": "Chủ đề mới nổi: {label}",
    },
    "customer.at_risk": {
        "en": "Customer at risk of leaving: {customer}",
        "vi": "Khách hàng có nguy cơ rời bỏ: {customer}",
    },
    "customer.at_risk.silent": {
        "en": "Silent detractor at risk of leaving: {customer}",
        "vi": "Khách hàng im lặng có nguy cơ rời bỏ: {customer}",
    },
    "digest.daily": {
        "en": "Daily support digest",
        "vi": "Tóm tắt chăm sóc khách hàng hằng ngày",
    },
    "digest.weekly": {
        "en": "Weekly support digest",
        "vi": "Tóm tắt chăm sóc khách hàng hằng tuần",
    },
    "digest.analyst.daily": {
        "en": "Daily CX analyst digest",
        "vi": "Tóm tắt phân tích trải nghiệm khách hàng hằng ngày",
    },
    "digest.analyst.weekly": {
        "en": "Weekly CX analyst digest",
        "vi": "Tóm tắt phân tích trải nghiệm khách hàng hằng tuần",
    },
    "field.top_topic": {"en": "Top topic {rank}: {label}", "vi": "Chủ đề nổi bật {rank}: {label}"},
    "value.topic_movement": {
        "en": "{current} items ({delta:+d} vs {period}: {previous})",
        "vi": "{current} ý kiến ({delta:+d} so với {period}: {previous})",
    },
    "period.before.daily": {"en": "the day before", "vi": "ngày trước đó"},
    "period.before.weekly": {"en": "the week before", "vi": "tuần trước đó"},
    "field.segment_scores": {
        "en": "CSAT / NPS · {segment}",
        "vi": "CSAT / NPS · {segment}",
    },
    "value.scores": {
        "en": "CSAT {csat:.2f}/5, NPS {nps:+.0f} ({n} items; before: {before})",
        "vi": "CSAT {csat:.2f}/5, NPS {nps:+.0f} ({n} ý kiến; trước đó: {before})",
    },
    "value.scores_before": {
        "en": "CSAT {csat:.2f}, NPS {nps:+.0f}",
        "vi": "CSAT {csat:.2f}, NPS {nps:+.0f}",
    },
    "value.none": {"en": "none", "vi": "không có"},
    "field.emerging": {"en": "Emerging: {label}", "vi": "Mới nổi: {label}"},
    "value.emerging": {
        "en": "{current:.0f} (usually {baseline:.1f})",
        "vi": "{current:.0f} (thường là {baseline:.1f})",
    },
    "field.no_topics": {"en": "Topics", "vi": "Chủ đề"},
    "segment.unknown": {"en": "no segment", "vi": "chưa phân khúc"},
    "segment.all": {"en": "all customers", "vi": "tất cả khách hàng"},
    "field.open_p1": {"en": "Open P1", "vi": "P1 đang mở"},
    "field.open_p2": {"en": "Open P2", "vi": "P2 đang mở"},
    "field.sla_breaches": {"en": "SLA breaches", "vi": "Quá hạn SLA"},
    "value.unanswered": {
        "en": "unanswered since {since}: {link}",
        "vi": "chưa phản hồi từ {since}: {link}",
    },
    "test": {
        "en": "Test message from langnghe: this channel works.",
        "vi": "Tin nhắn thử từ langnghe: kênh này hoạt động.",
    },
    "batch.subject": {
        "en": "langnghe: {count} alerts",
        "vi": "langnghe: {count} cảnh báo",
    },
    "field.priority": {"en": "Priority", "vi": "Mức ưu tiên"},
    "field.category": {"en": "Category", "vi": "Danh mục"},
    "field.channel": {"en": "Channel", "vi": "Kênh"},
    "field.language": {"en": "Language", "vi": "Ngôn ngữ"},
    "field.segment": {"en": "Customer segment", "vi": "Phân khúc khách hàng"},
    "field.customer": {"en": "Customer", "vi": "Khách hàng"},
    "field.sla_due": {"en": "Answer by", "vi": "Hạn phản hồi"},
    "field.risk": {"en": "Churn risk", "vi": "Nguy cơ rời bỏ"},
    "field.action": {"en": "Suggested action", "vi": "Hành động đề xuất"},
    "field.reasons": {"en": "Reasons", "vi": "Lý do"},
    "field.csat": {"en": "Inferred CSAT", "vi": "CSAT suy luận"},
    "field.keywords": {"en": "Keywords", "vi": "Từ khóa"},
    "field.count": {"en": "Mentions", "vi": "Số lần nhắc đến"},
    "value.csat": {
        "en": "{recent}% (was {baseline}%, −{drop} points)",
        "vi": "{recent}% (trước đây {baseline}%, giảm {drop} điểm)",
    },
    "value.count": {
        "en": "{count} in {days} days (usually {baseline:.1f})",
        "vi": "{count} trong {days} ngày (thường là {baseline:.1f})",
    },
    "segment.detractor": {"en": "detractor", "vi": "không hài lòng"},
    "segment.passive": {"en": "passive", "vi": "trung lập"},
    "segment.promoter": {"en": "promoter", "vi": "ủng hộ"},
    "open": {"en": "Open in langnghe", "vi": "Mở trong langnghe"},
    "footer": {
        "en": "Sent by langnghe to the channel “{name}”.",
        "vi": "Gửi bởi langnghe tới kênh “{name}”.",
    },
}


def t(key: str, language: Language, **values: Any) -> str:
    """The catalogue string ``key`` in ``language``, with ``values`` filled in."""
    return MESSAGES[key][language].format(**values)
