"""Topic and theme reports: figures, trends, drivers and the overall CSAT/NPS trend.

Shared by the JSON API and the dashboard. The store returns grouped counts and
CSAT sums; everything here is arithmetic on those rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from nlp.topics.model import display_word, distinct_quotes
from store import themes as themes_store
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


def partial(period: date, interval: Interval, today: date | None = None) -> bool:
    """Whether the period is still running (it holds today, UTC): its counts are not final,
    and charts draw it apart so that it does not read as a drop."""
    today = today or datetime.now(UTC).date()
    return period <= today < period + timedelta(days=1 if interval == "day" else 7)


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


@dataclass
class ThemeReport:
    """The tenant's themes, each with its figures and its topics' (as in TopicReport)."""

    total: int
    overall_csat: float | None
    themes: list[dict[str, Any]]
    unthemed: int
    """Items in no theme: outliers and items of topics without one."""
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
        "theme_id": topic["theme_id"],
        "theme_pinned": topic["theme_pinned"],
        "active": topic["active"],
    }


def _theme_meta(theme: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": theme["id"],
        "label": theme["name"],
        "auto_label": theme["auto_label"],
        "custom_label": theme["label"],
        "active": theme["active"],
    }


@dataclass
class _Grouped:
    """Report rows summed per topic or per theme, and their count trend."""

    acc: dict[int, _Acc]
    total: int
    csat_total: float
    trend: dict[int, dict[date, int]]
    periods: list[date]
    interval: Interval

    def figures(self, group_id: int) -> dict[str, Any]:
        """A group's size, share, sentiment mix, CSAT and its impact, complaints, NPS, mixes
        and trend."""
        a = self.acc.get(group_id, _Acc())
        total, csat_total = self.total, self.csat_total
        rest_n = total - a.n
        csat_mean = a.csat_sum / a.n if a.n else None
        csat_rest = (csat_total - a.csat_sum) / rest_n if rest_n else None
        return {
            "size": a.n,
            "share": _rate(a.n, total),
            "sentiment": {s: _rate(a.sentiments[s], a.n) for s in SENTIMENTS},
            "csat_mean": round(csat_mean, 3) if csat_mean is not None else None,
            "csat_rest": round(csat_rest, 3) if csat_rest is not None else None,
            # The overall mean minus what it would be had this group's items scored
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
                {
                    "period": p.isoformat(),
                    "count": self.trend[group_id].get(p, 0),
                    "partial": partial(p, self.interval),
                }
                for p in self.periods
            ],
        }


def _grouped(
    rows: Sequence[dict[str, Any]],
    days: Sequence[dict[str, Any]],
    key: Literal["topic_id", "theme_id"],
    interval: Interval,
) -> _Grouped:
    """Sum ``breakdown`` and ``daily`` rows per topic or per theme (``key``)."""
    acc: dict[int, _Acc] = defaultdict(_Acc)
    total = 0
    csat_total = 0.0
    for r in rows:
        a = acc[r[key]]
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
        trend[r[key]][bucket(r["day"], interval)] += int(r["n"])
    periods = buckets(min(all_days), max(all_days), interval) if all_days else []
    return _Grouped(acc, total, csat_total, trend, periods, interval)


def _topics(
    grouped: _Grouped, stored: dict[int, dict[str, Any]], include_noise: bool
) -> list[dict[str, Any]]:
    topics = []
    for topic_id, topic in stored.items():
        if topic["merged_into"] is not None or (topic["is_noise"] and not include_noise):
            continue
        if topic_id not in grouped.acc and not topic["active"]:
            continue
        topics.append(
            {
                **_topic_meta(topic),
                "merged_from": sorted(i for i, t in stored.items() if t["merged_into"] == topic_id),
                **grouped.figures(topic_id),
            }
        )
    topics.sort(key=lambda t: (-t["size"], t["id"]))
    return topics


def _overall(grouped: _Grouped) -> float | None:
    return round(grouped.csat_total / grouped.total, 3) if grouped.total else None


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
    grouped = _grouped(rows, days, "topic_id", interval)
    return TopicReport(
        total=grouped.total,
        overall_csat=_overall(grouped),
        topics=_topics(grouped, stored, include_noise),
        unassigned=grouped.acc[-1].n if -1 in grouped.acc else 0,
        fit=fit,
    )


def theme_report(
    db: Database, tenant_id: UUID, flt: ReportFilter, interval: Interval = "day"
) -> ThemeReport:
    """Per theme: the figures a topic has (from the same queries) and its topics, largest
    first; noise topics are listed (flagged) and counted, as their items are the theme's."""
    with db.transaction() as conn:
        rows = reports_store.breakdown(conn, tenant_id, flt)
        days = reports_store.daily(conn, tenant_id, flt)
        stored = {t["id"]: t for t in topics_store.list_topics(conn, tenant_id)}
        themes = themes_store.list_themes(conn, tenant_id)
        fit = topics_store.latest_fit(conn, tenant_id)
    by_theme = _grouped(rows, days, "theme_id", interval)
    members: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
    for topic in _topics(_grouped(rows, days, "topic_id", interval), stored, True):
        members[topic["theme_id"]].append(topic)
    out = []
    for theme in themes:
        if theme["id"] not in by_theme.acc and not members.get(theme["id"]):
            continue
        topics = members.get(theme["id"], [])
        out.append(
            {
                **_theme_meta(theme),
                "topic_count": len(topics),
                **by_theme.figures(theme["id"]),
                "topics": [_member(t) for t in topics],
            }
        )
    out.sort(key=lambda t: (-t["size"], t["id"]))
    return ThemeReport(
        total=by_theme.total,
        overall_csat=_overall(by_theme),
        themes=out,
        unthemed=by_theme.acc[-1].n if -1 in by_theme.acc else 0,
        fit=fit,
    )


def _member(topic: dict[str, Any]) -> dict[str, Any]:
    """A topic as a theme lists it."""
    keys = ("id", "label", "keywords", "is_noise", "theme_pinned", "size", "share")
    return {k: topic[k] for k in keys} | {
        "csat_mean": topic["csat_mean"],
        "csat_impact": topic["csat_impact"],
        "trend": topic["trend"],
    }


def drivers(
    groups: Sequence[dict[str, Any]],
    overall_csat: float | None,
    id_key: Literal["topic_id", "theme_id"] = "topic_id",
) -> list[dict[str, Any]]:
    """Topics (or themes) ranked by how much they pull overall CSAT down (most harmful first).

    ``csat_impact`` is the overall mean CSAT minus what it would be if the group's
    items scored like everything else: negative means the group drags CSAT down,
    and ``overall_if_like_rest`` is where the overall mean would then stand.
    """
    ranked = [g for g in groups if g["csat_impact"] is not None and not g.get("is_noise")]
    ranked.sort(key=lambda g: (g["csat_impact"], g["id"]))
    return [
        {
            "rank": n + 1,
            id_key: g["id"],
            "label": g["label"],
            "size": g["size"],
            "share": g["share"],
            "csat_mean": g["csat_mean"],
            "csat_rest": g["csat_rest"],
            "csat_impact": g["csat_impact"],
            "overall_if_like_rest": round((overall_csat or 0) - g["csat_impact"], 3),
        }
        for n, g in enumerate(ranked)
    ]


def _series(days: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per day and per week: items, negative share and mean CSAT of ``daily`` rows."""
    series = {}
    all_days = [r["day"] for r in days]
    for interval in ("day", "week"):
        acc: dict[date, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for r in days:
            b = acc[bucket(r["day"], interval)]  # type: ignore[arg-type]
            b["count"] += int(r["n"])
            b["negative"] += int(r["negative"])
            b["complaints"] += int(r["complaints"])
            b["csat_sum"] += float(r["csat_sum"])
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
                "partial": partial(p, interval),  # type: ignore[arg-type]
            }
            for p in periods
        ]
    return {"trend_daily": series["day"], "trend_weekly": series["week"]}


def _quotes(
    candidates: Sequence[dict[str, Any]], limit: int, labels: dict[int, str] | None = None
) -> list[dict[str, Any]]:
    """Up to ``limit`` distinct quotes of the candidates (best first), as the API shows them."""
    picked = [candidates[i] for i in distinct_quotes([q["text"] for q in candidates], limit)]
    out = []
    for q in picked:
        quote = {
            "feedback_id": str(q["id"]),
            "text": q["text"],
            "at": q["ts"].isoformat(),
            "channel": q["channel"],
            "language": q["language"],
            "sentiment": q["sentiment"],
            "csat": round(float(q["csat_expected"]), 2),
            "complaint": q["complaint"],
        }
        if labels is not None:
            quote |= {"topic_id": q["topic_id"], "topic_label": labels.get(q["topic_id"])}
        out.append(quote)
    return out


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
    report = topic_report(db, tenant_id, flt, include_noise=True)
    summary = next((t for t in report.topics if t["id"] == root), None)
    if summary is None:
        summary = {**_topic_meta(topic), "size": 0, "share": None, "trend": []}
    return {
        **summary,
        "requested_id": topic_id,
        "quotes": _quotes(nearest, quotes),
        **_series(days),
    }


def theme_detail(
    db: Database, tenant_id: UUID, theme_id: int, flt: ReportFilter, quotes: int = 8
) -> dict[str, Any] | None:
    """One theme: its summary and topics, quotes taken in turn from its topics (each with
    its topic), and trends per day and per week."""
    with db.transaction() as conn:
        theme = themes_store.get_theme(conn, tenant_id, theme_id)
        if theme is None:
            return None
        days = [r for r in reports_store.daily(conn, tenant_id, flt) if r["theme_id"] == theme_id]
        nearest = reports_store.quotes(
            conn, tenant_id, theme_id, flt, min(10 * quotes, 500), level="theme"
        )
    report = theme_report(db, tenant_id, flt)
    summary = next((t for t in report.themes if t["id"] == theme_id), None)
    if summary is None:
        summary = {**_theme_meta(theme), "topic_count": 0, "size": 0, "share": None}
        summary |= {"trend": [], "topics": []}
    labels = {t["id"]: t["label"] for t in summary["topics"]}
    return {**summary, "quotes": _quotes(nearest, quotes, labels), **_series(days)}


def over_time(
    groups: Sequence[dict[str, Any]], id_key: Literal["topic_id", "theme_id"] = "topic_id"
) -> dict[str, Any]:
    """Counts per period for every topic (or theme), aligned on one list of periods."""
    periods = [p["period"] for p in groups[0]["trend"]] if groups else []
    return {
        "periods": periods,
        "series": [
            {id_key: g["id"], "label": g["label"], "counts": [p["count"] for p in g["trend"]]}
            for g in groups
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
                "partial": partial(p, interval),
            }
        )
    return out
