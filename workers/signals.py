"""Inferred CSAT/NPS: interval estimates per segment, and the ``signal.csat_drop`` check.

Inferred CSAT % of a segment is the mean over its items of the inferred
probability of a 4-5 star answer; inferred NPS is the share of items whose
inferred class is promoter minus the share of detractors (x100). Each comes with
a 95% interval and the count, and, where customers gave real stars or NPS
answers, the real figure beside it and the calibration error between the two.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from store import events as events_store
from store import signals as signals_store
from store import themes as themes_store
from store import topics as topics_store
from store.db import Database
from workers.events import SIGNAL_CSAT_DROP

log = logging.getLogger(__name__)

Z95 = 1.959963984540054


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion; None without data.

    ``successes`` may be fractional (a sum of probabilities): the interval then treats
    the mean as an observed proportion over ``n`` items.
    """
    if n <= 0:
        return None
    p = min(max(successes / n, 0.0), 1.0)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def nps_interval(
    promoters: int, detractors: int, n: int, z: float = Z95
) -> tuple[float, float, float] | None:
    """NPS (-100..100) and its normal-approximation interval; None without data."""
    if n <= 0:
        return None
    p, d = promoters / n, detractors / n
    score = p - d
    variance = max(p + d - score * score, 0.0)
    half = z * math.sqrt(variance / n)
    return 100 * score, 100 * max(-1.0, score - half), 100 * min(1.0, score + half)


def _pct(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else [round(100 * interval[0], 2), round(100 * interval[1], 2)]


def segment_figures(sums: dict[str, Any]) -> dict[str, Any]:
    """Inferred and real CSAT/NPS with intervals, counts and calibration, from one row of sums."""
    n = int(sums["n"])
    satisfied = float(sums["satisfied_sum"] or 0.0)
    nps = nps_interval(int(sums["promoters"]), int(sums["detractors"]), n)
    figures: dict[str, Any] = {
        "n": n,
        "inferred_csat_pct": round(100 * satisfied / n, 2) if n else None,
        "inferred_csat_ci": _pct(wilson(satisfied, n)),
        "inferred_nps": round(nps[0], 2) if nps else None,
        "inferred_nps_ci": [round(nps[1], 2), round(nps[2], 2)] if nps else None,
    }
    rated = int(sums["rated_n"])
    figures["rated_n"] = rated
    if rated:
        real = int(sums["rated_satisfied"]) / rated
        inferred_on_rated = float(sums["rated_inferred_sum"] or 0.0) / rated
        figures.update(
            real_csat_pct=round(100 * real, 2),
            real_csat_ci=_pct(wilson(int(sums["rated_satisfied"]), rated)),
            # Calibration on the same items: inferred minus real, in points, and the
            # mean absolute error of the expected stars.
            csat_calibration_error_pct=round(100 * (inferred_on_rated - real), 2),
            stars_mae=round(float(sums["rated_abs_error_sum"] or 0.0) / rated, 3),
        )
    else:
        figures.update(
            real_csat_pct=None, real_csat_ci=None, csat_calibration_error_pct=None, stars_mae=None
        )
    surveyed = int(sums["surveyed_n"])
    figures["surveyed_n"] = surveyed
    real_nps = nps_interval(int(sums["survey_promoters"]), int(sums["survey_detractors"]), surveyed)
    inferred_on_surveyed = nps_interval(
        int(sums["surveyed_inferred_promoters"]),
        int(sums["surveyed_inferred_detractors"]),
        surveyed,
    )
    if real_nps and inferred_on_surveyed:
        figures.update(
            real_nps=round(real_nps[0], 2),
            real_nps_ci=[round(real_nps[1], 2), round(real_nps[2], 2)],
            nps_calibration_error=round(inferred_on_surveyed[0] - real_nps[0], 2),
        )
    else:
        figures.update(real_nps=None, real_nps_ci=None, nps_calibration_error=None)
    return figures


@dataclass(frozen=True)
class DropRule:
    """When a segment's recent inferred CSAT counts as a significant drop."""

    window_h: float = 24.0
    baseline_days: float = 14.0
    min_n: int = 30
    min_drop: float = 0.10
    z: float = 2.58


def drop_test(
    recent_sum: float, recent_n: int, base_sum: float, base_n: int, rule: DropRule
) -> tuple[bool, float, float]:
    """(significant, drop, z): a two-proportion z-test of recent against baseline CSAT."""
    if recent_n < rule.min_n or base_n < rule.min_n:
        return False, 0.0, 0.0
    p1, p0 = recent_sum / recent_n, base_sum / base_n
    pooled = (recent_sum + base_sum) / (recent_n + base_n)
    se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / recent_n + 1 / base_n))
    z = (p1 - p0) / se
    drop = p0 - p1
    return (drop >= rule.min_drop and z <= -rule.z), drop, z


SEGMENTATIONS: tuple[tuple[str, ...], ...] = (("channel", "language"), ("topic",), ("theme",))
"""The segmentations the drop check runs over, each with the same rule."""


def _segment(row: dict[str, Any], dims: tuple[str, ...]) -> dict[str, Any]:
    """A drop's segment as the event gives it: channel and language, the topic or the theme."""
    return {signals_store.DIMENSIONS[d][0]: row[signals_store.DIMENSIONS[d][0]] for d in dims}


def detect_csat_drops(db: Database, rule: DropRule, now: datetime | None = None) -> int:
    """Emit ``signal.csat_drop`` for each segment whose inferred CSAT fell; return how many.

    Segments are channel x language and, separately, topic and theme
    (:data:`SEGMENTATIONS`), each tested with the same windows and thresholds. Each alert
    is claimed in ``signal_alerts`` in the same transaction as its event, so a segment
    alerts at most once per day however often the check runs.
    """
    now = now or datetime.now(UTC)
    window_start = now - timedelta(hours=rule.window_h)
    baseline_start = window_start - timedelta(days=rule.baseline_days)
    alert_day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    per_tenant: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
    with db.transaction() as conn:
        for dims in SEGMENTATIONS:
            rows = signals_store.segment_windows(conn, window_start, now, baseline_start, dims)
            for row in rows:
                significant, drop, z = drop_test(
                    float(row["recent_sum"]),
                    row["recent_n"],
                    float(row["base_sum"]),
                    row["base_n"],
                    rule,
                )
                if significant:
                    segment = _segment(row, dims)
                    per_tenant[row["tenant_id"]].append(
                        {**row, "segment": segment, "drop": drop, "z": z}
                    )
    emitted = 0
    for tenant_id in sorted(per_tenant):
        with db.transaction() as conn:
            labels = {t["id"]: t["name"] for t in topics_store.list_topics(conn, tenant_id)}
            theme_names = {t["id"]: t["name"] for t in themes_store.list_themes(conn, tenant_id)}
            events = []
            for row in per_tenant[tenant_id]:
                segment = row["segment"]
                key = ";".join(f"{d.removesuffix('_id')}={v}" for d, v in segment.items())
                if not signals_store.claim_alert(conn, tenant_id, SIGNAL_CSAT_DROP, key, alert_day):
                    continue
                if "topic_id" in segment:
                    segment = {**segment, "label": labels.get(segment["topic_id"])}
                elif "theme_id" in segment:
                    # The analyst's name when set, else the automatic one (as the API shows).
                    segment = {**segment, "label": theme_names.get(segment["theme_id"])}
                recent = float(row["recent_sum"]) / row["recent_n"]
                base = float(row["base_sum"]) / row["base_n"]
                events.append(
                    events_store.NewEvent(
                        SIGNAL_CSAT_DROP,
                        {
                            "segment": segment,
                            "window_start": window_start.isoformat(),
                            "window_end": now.isoformat(),
                            "recent": {
                                "n": row["recent_n"],
                                "inferred_csat_pct": round(100 * recent, 2),
                                "ci": _pct(wilson(float(row["recent_sum"]), row["recent_n"])),
                            },
                            "baseline": {
                                "n": row["base_n"],
                                "inferred_csat_pct": round(100 * base, 2),
                                "ci": _pct(wilson(float(row["base_sum"]), row["base_n"])),
                                "since": baseline_start.isoformat(),
                            },
                            "drop_pct_points": round(100 * row["drop"], 2),
                            "z": round(row["z"], 2),
                        },
                    )
                )
            events_store.append_events(conn, tenant_id, events)
            emitted += len(events)
    if emitted:
        log.info("csat drops signalled", extra={"count": emitted})
    return emitted
