"""Topic reports: per-topic figures, trends, drivers and the overall CSAT/NPS trend.

Shared by the JSON API and the dashboard. The store returns grouped counts and
CSAT sums; everything here is arithmetic on those rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal
from uuid import UUID

from nlp.topics.model import display_word, distinct_quotes
from store import topic_reports as reports_store
from store import topics as topics_store
from store.db import Database
from store.topic_reports import ReportFilter

Interval = Literal["day", "week"]
SENTIMENTS = ("negative", "neutral", "positive")


def bucket(day: date, interval: Interval) -> date:
    """The first day of the day's bucket (weeks start on Monday)."""
    return day if interval == "day" else day - timedelta(days=day.weekday())


# A trend ends tomorrow at the latest and spans at most ten years: an item stored with a
# far-off occurred_at (a CRM placeholder) must not stretch every chart to millions of points.
MAX_TREND_SPAN = timedelta(days=3_660)


def buckets(first: date, last: date, interval: Interval) -> list[date]:
    """Every bucket from ``first`` to ``last``, with no gaps, within the trend's window."""
    last = min(last, date.today() + timedelta(days=1))
    first = max(first, last - MAX_TREND_SPAN)
    out = []
    current, step = bucket(first, interval), timedelta(days=1 if interval == "day" else 7)
    while current <= last:
        out.append(current)
        current += step
    return out


@dataclass
class _Acc:
    n: int = 0
    csat_sum: float = 0.0
    complaints: int = 0
    promoters: int = 0
    detractors: int = 0
    sentiments: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SENTIMENTS, 0))
    channels: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    languages: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def _rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _nps(promoters: int, detractors: int, n: int) -> float | None:
    return round(100.0 * (promoters - detractors) / n, 1) if n else None


@dataclass
class TopicReport:
    """Everything the API and the dashboard show about a tenant's topics."""

    total: int
    overall_csat: float | None
    topics: list[dict[str, Any]]
    unassigned: int
    fit: dict[str, Any] | None


def _topic_meta(topic: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": topic["id"],
        "label": topic["name"],
        "auto_label": topic["auto_label"],
        "custom_label": topic["label"],
        # underthesea sometimes leaves a compound as two words, so "hoàn_tiền" and the
        # bigram "hoàn tiền" can both be keywords: show each reading once.
        "keywords": list(dict.fromkeys(display_word(w) for w, _ in topic["keywords"])),
        "is_noise": topic["is_noise"],
        "merged_into": topic["merged_into"],
        "active": topic["active"],
    }


def topic_report(
    db: Database,
    tenant_id: UUID,
    flt: ReportFilter,
    include_noise: bool = False,
    interval: Interval = "day",
) -> TopicReport:
    """Per topic: size, share, sentiment mix, CSAT, complaint rate, NPS, channels, trend."""
    with db.transaction() as conn:
        rows = reports_store.breakdown(conn, tenant_id, flt)
        days = reports_store.daily(conn, tenant_id, flt)
        stored = {t["id"]: t for t in topics_store.list_topics(conn, tenant_id)}
        fit = topics_store.latest_fit(conn, tenant_id)
    acc: dict[int, _Acc] = defaultdict(_Acc)
    total = 0
    csat_total = 0.0
    for r in rows:
        a = acc[r["topic_id"]]
        n = int(r["n"])
        total += n
        csat_total += float(r["csat_sum"])
        a.n += n
        a.csat_sum += float(r["csat_sum"])
        a.complaints += n if r["complaint"] else 0
        a.promoters += n if r["nps_class"] == "promoter" else 0
        a.detractors += n if r["nps_class"] == "detractor" else 0
        a.sentiments[r["sentiment"]] += n
        a.channels[r["channel"]] += n
        a.languages[r["language"]] += n
    trend: dict[int, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    all_days = [r["day"] for r in days]
    for r in days:
        trend[r["topic_id"]][bucket(r["day"], interval)] += int(r["n"])
    periods = buckets(min(all_days), max(all_days), interval) if all_days else []
    overall = csat_total / total if total else None
    topics = []
    for topic_id, topic in stored.items():
        if topic["merged_into"] is not None or (topic["is_noise"] and not include_noise):
            continue
        a = acc.get(topic_id, _Acc())
        if not a.n and not topic["active"]:
            continue
        rest_n = total - a.n
        csat_mean = a.csat_sum / a.n if a.n else None
        csat_rest = (csat_total - a.csat_sum) / rest_n if rest_n else None
        topics.append(
            {
                **_topic_meta(topic),
                "merged_from": sorted(i for i, t in stored.items() if t["merged_into"] == topic_id),
                "size": a.n,
                "share": _rate(a.n, total),
                "sentiment": {s: _rate(a.sentiments[s], a.n) for s in SENTIMENTS},
                "csat_mean": round(csat_mean, 3) if csat_mean is not None else None,
                "csat_rest": round(csat_rest, 3) if csat_rest is not None else None,
                # The overall mean minus what it would be had this topic's items scored
                # like the rest: n_t (mean_t - mean_rest) / N. Negative: it pulls CSAT down.
                "csat_impact": (
                    round(a.n * (csat_mean - csat_rest) / total, 4)
                    if csat_mean is not None and csat_rest is not None
                    else None
                ),
                "complaint_rate": _rate(a.complaints, a.n),
                "nps": _nps(a.promoters, a.detractors, a.n),
                "channels": dict(sorted(a.channels.items(), key=lambda kv: -kv[1])),
                "languages": dict(sorted(a.languages.items(), key=lambda kv: -kv[1])),
                "trend": [
                    {"period": p.isoformat(), "count": trend[topic_id].get(p, 0)} for p in periods
                ],
            }
        )
    topics.sort(key=lambda t: (-t["size"], t["id"]))
    return TopicReport(
        total=total,
        overall_csat=round(overall, 3) if overall is not None else None,
        topics=topics,
        unassigned=acc[-1].n if -1 in acc else 0,
        fit=fit,
    )


def drivers(report: TopicReport) -> list[dict[str, Any]]:
    """Topics ranked by how much they pull overall CSAT down (most harmful first).

    ``csat_impact`` is the overall mean CSAT minus what it would be if the topic's
    items scored like everything else: negative means the topic drags CSAT down,
    and ``overall_if_like_rest`` is where the overall mean would then stand.
    """
    ranked = [t for t in report.topics if t["csat_impact"] is not None and not t["is_noise"]]
    ranked.sort(key=lambda t: (t["csat_impact"], t["id"]))
    return [
        {
            "rank": n + 1,
            "topic_id": t["id"],
            "label": t["label"],
            "size": t["size"],
            "share": t["share"],
            "csat_mean": t["csat_mean"],
            "csat_rest": t["csat_rest"],
            "csat_impact": t["csat_impact"],
            "overall_if_like_rest": round((report.overall_csat or 0) - t["csat_impact"], 3),
        }
        for n, t in enumerate(ranked)
    ]


def topic_detail(
    db: Database, tenant_id: UUID, topic_id: int, flt: ReportFilter, quotes: int = 8
) -> dict[str, Any] | None:
    """One topic: its summary, representative quotes, and trends per day and per week."""
    with db.transaction() as conn:
        topic = topics_store.get_topic(conn, tenant_id, topic_id)
        if topic is None:
            return None
        root = topic["merged_into"] if topic["merged_into"] is not None else topic_id
        days = [r for r in reports_store.daily(conn, tenant_id, flt) if r["topic_id"] == root]
        # Candidates enough to fill the list after duplicates go (a topic's nearest
        # items are often the same sentence sent again).
        nearest = reports_store.quotes(conn, tenant_id, root, flt, min(10 * quotes, 500))
    picked = [nearest[i] for i in distinct_quotes([q["text"] for q in nearest], quotes)]
    report = topic_report(db, tenant_id, flt, include_noise=True)
    summary = next((t for t in report.topics if t["id"] == root), None)
    if summary is None:
        summary = {**_topic_meta(topic), "size": 0, "share": None, "trend": []}
    series = {}
    for interval in ("day", "week"):
        acc: dict[date, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for r in days:
            b = acc[bucket(r["day"], interval)]  # type: ignore[arg-type]
            b["count"] += int(r["n"])
            b["negative"] += int(r["negative"])
            b["complaints"] += int(r["complaints"])
            b["csat_sum"] += float(r["csat_sum"])
        all_days = [r["day"] for r in days]
        periods = buckets(min(all_days), max(all_days), interval) if all_days else []  # type: ignore[arg-type]
        series[interval] = [
            {
                "period": p.isoformat(),
                "count": int(acc[p]["count"]) if p in acc else 0,
                "negative_share": _rate(acc[p]["negative"], acc[p]["count"]) if p in acc else None,
                "csat_mean": (
                    round(acc[p]["csat_sum"] / acc[p]["count"], 3)
                    if p in acc and acc[p]["count"]
                    else None
                ),
            }
            for p in periods
        ]
    return {
        **summary,
        "requested_id": topic_id,
        "quotes": [
            {
                "feedback_id": str(q["id"]),
                "text": q["text"],
                "at": q["ts"].isoformat(),
                "channel": q["channel"],
                "language": q["language"],
                "sentiment": q["sentiment"],
                "csat": round(float(q["csat_expected"]), 2),
                "complaint": q["complaint"],
            }
            for q in picked
        ],
        "trend_daily": series["day"],
        "trend_weekly": series["week"],
    }


def topics_over_time(report: TopicReport) -> dict[str, Any]:
    """Counts per period for every topic, aligned on one list of periods."""
    periods = [p["period"] for p in report.topics[0]["trend"]] if report.topics else []
    return {
        "periods": periods,
        "series": [
            {"topic_id": t["id"], "label": t["label"], "counts": [p["count"] for p in t["trend"]]}
            for t in report.topics
        ],
    }


def csat_trend(
    db: Database, tenant_id: UUID, flt: ReportFilter, interval: Interval = "day"
) -> list[dict[str, Any]]:
    """Overall mean inferred CSAT and NPS per period, over every analysed item."""
    with db.transaction() as conn:
        days = reports_store.daily(conn, tenant_id, flt)
    acc: dict[date, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in days:
        b = acc[bucket(r["day"], interval)]
        for key in ("n", "csat_sum", "promoters", "detractors"):
            b[key] += float(r[key])
    if not acc:
        return []
    out = []
    for p in buckets(min(acc), max(acc), interval):
        found = acc.get(p)
        n = int(found["n"]) if found else 0
        out.append(
            {
                "period": p.isoformat(),
                "count": n,
                "csat_mean": round(found["csat_sum"] / n, 3) if found and n else None,
                "nps": _nps(int(found["promoters"]), int(found["detractors"]), n)
                if found
                else None,
            }
        )
    return out
