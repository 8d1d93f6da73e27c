"""Churn risk with its reasons, and the NPS segment, from what a customer wrote and did.

Pure functions over plain data (no database): the worker feeds them stored rows, the
simulator in ``eval/customers.py`` feeds them simulated ones, and both get the same score.

The transparent score needs no outcomes. Each reason that holds carries a weight in
[0, 1], read as the chance that this reason alone makes the customer leave; reasons
combine as a noisy OR, ``risk = 1 - prod(1 - w_i)``, so every reason can only raise the
risk, two strong reasons compound, and the top reasons are the heaviest weights. Every
reason names the feedback items and interactions behind it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from nlp.pipeline import nps_class

DAY = timedelta(days=1)
# A customer with too little history for their own rhythm is measured against this gap.
DEFAULT_GAP = 30 * DAY
LATE_DELIVERY = DAY
# Events this close together are one visit, not a gap in the customer's rhythm.
VISIT = timedelta(hours=1)
FAILED_DELIVERY_GRACE = 2 * DAY
LONG_WAIT_S = 900
HIGH_BAND = 0.5
MEDIUM_BAND = 0.25
SEVERITY_WEIGHT = {"high": 0.15, "critical": 0.25}
# What the customer does on their own initiative; its rhythm is the customer's rhythm.
ACTIVITY_TYPES = frozenset({"order", "app_session", "support_contact", "survey_answered"})
TOP_REASONS = 5
# Coming back after a bad experience is ordering again: a support contact, a review or a
# survey answer about it is part of the experience, not a return.
RETURN_TYPES = frozenset({"order", "app_session"})
# Feedback this soon after a bad experience is the customer telling us about it.
VOICED_WITHIN = 3 * DAY
# A quarter without anything else going wrong makes up for one bad experience.
RECOVERY = 90 * DAY


@dataclass(frozen=True)
class FeedbackFact:
    """One analysed feedback item of the customer, with its complaint if flagged."""

    id: str
    at: datetime
    channel: str
    sentiment: str
    csat_expected: float
    churn_cue: bool
    severity: str
    survey_score: int | None = None
    rating: float | None = None
    complaint_id: str | None = None
    complaint_status: str | None = None
    complaint_reopened: bool = False


@dataclass(frozen=True)
class InteractionFact:
    """One interaction of the customer."""

    id: str
    type: str
    at: datetime
    value: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reason:
    """One reason behind a risk: its weight and the rows that show it."""

    code: str
    weight: float
    message: str
    feedback_ids: tuple[str, ...] = ()
    interaction_ids: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The reason as stored in the profile and sent in events."""
        return {
            "code": self.code,
            "weight": round(self.weight, 3),
            "message": self.message,
            "feedback_ids": list(self.feedback_ids),
            "interaction_ids": list(self.interaction_ids),
        }


@dataclass(frozen=True)
class Assessment:
    """The risk, its band, its reasons (heaviest first) and the segment of one customer."""

    risk: float
    band: str
    reasons: tuple[Reason, ...]
    csat_trend: float | None
    segment: str | None
    segment_source: str | None
    features: dict[str, float]


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _median_gap(times: Sequence[datetime]) -> timedelta | None:
    gaps = [(b - a) / DAY for a, b in itertools.pairwise(sorted(times))]
    gaps = [g for g in gaps if g > VISIT / DAY]
    return median(gaps) * DAY if len(gaps) >= 3 else None


def usual_gap(orders: Sequence[datetime], activity: Sequence[datetime]) -> timedelta | None:
    """The customer's own rhythm: the median gap between their orders (four or more), else
    between all they did on their own initiative; None with too little history.

    Orders first because a contact and a review follow an order within days: counted as
    gaps, they would halve the rhythm and make every customer look silent.
    """
    return _median_gap(orders) or _median_gap(activity)


def frequency_drop_weight(ratio: float) -> float:
    """The weight of a silence ``ratio`` times the customer's usual gap (0 up to one gap).

    Silence is the strongest sign a customer left: the longer it runs against their own
    rhythm, the less likely they are merely between visits, so the weight rises quickly
    towards 1 (0.42 at 1.25 gaps, 0.67 at 1.5, 0.89 at 2, 0.99 at 3). It saturates rather
    than being capped: the former cap of 0.95 made every customer silent for 2.4 gaps or
    more weigh the same, so their order fell to weaker reasons, and an active customer
    with several of those outranked one long gone.
    """
    return max(0.0, 1.0 - math.exp(-2.2 * (ratio - 1.0)))


def bad_experiences_weight(load: float) -> float:
    """The weight of the bad experiences not yet made up for (``load``, in experiences).

    It rises with the square of the load, because patience runs out: one fresh bad
    experience weighs 0.30, two 0.76, three 0.96. It saturates rather than being capped,
    as ``frequency_drop_weight`` does: a cap of 0.9 made everyone with three or more weigh
    the same, so their order fell to weaker reasons.
    """
    return 1.0 - math.exp(-0.36 * load**2)


def bad_experience_load(times: Sequence[datetime], now: datetime) -> tuple[float, int]:
    """How many bad experiences (at ``times``, oldest first) are not yet made up for as of
    ``now``, and the index of the first one still counting.

    Each adds one; time without a new one makes up for them at one per ``RECOVERY``. The
    index is where the load last started from nothing, so the reason names every
    experience behind it and none that was already made up for.
    """
    load, first, prev = 0.0, 0, None
    for k, at in enumerate(times):
        if prev is not None:
            load = max(0.0, load - (at - prev) / RECOVERY)
        if load == 0.0:
            first = k
        load, prev = load + 1.0, at
    if prev is not None:
        load = max(0.0, load - (now - prev) / RECOVERY)
    return load, first


def _arrival(i: InteractionFact, now: datetime) -> datetime | None:
    """When a delivery arrived, if it had by ``now``: a later arrival is not known then."""
    delivered = _when(i.attributes.get("delivered_at"))
    return delivered if delivered is not None and delivered <= now else None


def experienced_at(i: InteractionFact, now: datetime) -> datetime:
    """When the customer lived the experience: a delivery when it arrived (if it has by
    ``now``), anything else when it happened."""
    if i.type == "delivery":
        return _arrival(i, now) or i.at
    return i.at


def bad_experience(i: InteractionFact, now: datetime) -> str | None:
    """Why this interaction was a bad experience, or None."""
    a = i.attributes
    if i.type == "delivery":
        promised, delivered = _when(a.get("promised_at")), _arrival(i, now)
        if promised and delivered and delivered - promised >= LATE_DELIVERY:
            return f"delivered {(delivered - promised) / DAY:.1f} days late"
        if promised and delivered is None and now - promised >= FAILED_DELIVERY_GRACE:
            return "never delivered"
    if i.type == "support_contact":
        if a.get("resolved") is False:
            return "support contact left unresolved"
        wait = a.get("wait_seconds")
        if isinstance(wait, int | float) and wait >= LONG_WAIT_S:
            return f"waited {wait / 60:.0f} min for support"
    if i.type == "survey_answered":
        nps, csat = a.get("nps"), a.get("csat")
        if isinstance(nps, int) and nps <= 6:
            return f"answered NPS {nps}"
        if isinstance(csat, int) and csat <= 2:
            return f"answered CSAT {csat}"
    return None


def _segment_from_answer(nps: int | None, csat: float | None) -> str | None:
    if nps is not None:
        return "promoter" if nps >= 9 else "passive" if nps >= 7 else "detractor"
    if csat is not None:
        return "promoter" if csat >= 4.5 else "passive" if csat >= 3.5 else "detractor"
    return None


def _latest_answer(
    feedback: Sequence[FeedbackFact], interactions: Sequence[InteractionFact]
) -> tuple[datetime, int | None, float | None] | None:
    answers: list[tuple[datetime, int | None, float | None]] = []
    for f in feedback:
        if f.survey_score is not None or f.rating is not None:
            answers.append((f.at, f.survey_score, f.rating))
    for i in interactions:
        if i.type == "survey_answered":
            nps, csat = i.attributes.get("nps"), i.attributes.get("csat")
            answers.append((i.at, nps if isinstance(nps, int) else None, csat))
    return max(answers, key=lambda a: a[0]) if answers else None


def assess(
    feedback: Sequence[FeedbackFact],
    interactions: Sequence[InteractionFact],
    now: datetime,
) -> Assessment:
    """The transparent risk of one customer as of ``now`` (rows after ``now`` are ignored)."""
    feedback = sorted((f for f in feedback if f.at <= now), key=lambda f: f.at)
    interactions = sorted((i for i in interactions if i.at <= now), key=lambda i: i.at)
    reasons: list[Reason] = []
    features: dict[str, float] = {}

    cancellations = [i for i in interactions if i.type == "cancellation"]
    if cancellations:
        reasons.append(
            Reason("cancelled", 1.0, "cancelled", interaction_ids=(cancellations[0].id,))
        )

    # What they did: their own rhythm, the silence now, and bad experiences.
    activity: list[tuple[datetime, str, str]] = [(f.at, "feedback", f.id) for f in feedback]
    activity += [(i.at, "interaction", i.id) for i in interactions if i.type in ACTIVITY_TYPES]
    activity.sort()
    usual = usual_gap([i.at for i in interactions if i.type == "order"], [a[0] for a in activity])
    gap = max(usual or DEFAULT_GAP, DAY)
    last = activity[-1] if activity else None
    silence = (now - last[0]) if last else None
    features["silence_ratio"] = (silence / gap) if silence is not None else 0.0
    features["activity_count"] = float(len(activity))

    if usual is not None and silence is not None and silence >= 1.25 * gap:
        ratio = silence / gap
        reasons.append(
            _point(
                "frequency_drop",
                frequency_drop_weight(ratio),
                f"silent {silence / DAY:.0f} days against a usual {gap / DAY:.0f}",
                last,
            )
        )

    bad = [(i, why) for i in interactions if (why := bad_experience(i, now))]
    returns = [i.at for i in interactions if i.type in RETURN_TYPES]
    negative = [f for f in feedback if f.sentiment == "negative"]
    candidates: list[tuple[datetime, str, str, str]] = [
        (i.at, "interaction", i.id, why) for i, why in bad
    ]
    candidates += [(f.at, "feedback", f.id, "wrote negative feedback") for f in negative]
    features["bad_experiences_60d"] = float(sum(1 for i, _ in bad if now - i.at <= 60 * DAY))
    if candidates:
        at, kind, row_id, why = max(candidates)
        after = [r for r in returns if r > at]
        since = now - at
        if not after and since <= 180 * DAY and since >= max(gap, 7 * DAY):
            # Silence after a bad experience weighs more than silence alone: uncapped, as
            # frequency_drop is, so it stays the heavier of the two for the same silence.
            weight = 0.35 + 0.65 * frequency_drop_weight(since / gap)
            reasons.append(
                Reason(
                    "silence_after_bad_experience",
                    weight,
                    f"{why}, then silent for {since / DAY:.0f} days",
                    feedback_ids=(row_id,) if kind == "feedback" else (),
                    interaction_ids=(row_id,) if kind == "interaction" else (),
                )
            )
    # A bad experience the customer told us about weighs through what they wrote (the
    # complaint, its severity, the trend); counted here too, it would count twice, and
    # the customer who says nothing is the one only their behaviour can show.
    told = [f.at for f in feedback if f.sentiment == "negative" or f.complaint_id]
    lived = [(experienced_at(i, now), i, why) for i, why in bad if i.type != "survey_answered"]
    unvoiced = sorted(
        ((at, i, why) for at, i, why in lived if not _voiced(i.at, at, told)),
        key=lambda u: u[0],
    )
    load, first = bad_experience_load([at for at, _, _ in unvoiced], now)
    if load > 0:
        owed = unvoiced[first:]
        reasons.append(
            Reason(
                "bad_experiences",
                bad_experiences_weight(load),
                f"{len(owed)} bad experience(s) they never told us about, not yet made up for: "
                + "; ".join(why for _, _, why in owed[-3:]),
                interaction_ids=tuple(i.id for _, i, _ in owed),
            )
        )

    # What they wrote: complaints, churn cues, severity, the inferred CSAT's trend.
    unresolved = [f for f in feedback if f.complaint_id and f.complaint_status != "resolved"]
    if unresolved:
        reasons.append(
            Reason(
                "unresolved_complaint",
                min(0.45, 0.3 + 0.075 * (len(unresolved) - 1)),
                f"{len(unresolved)} complaint(s) not resolved",
                feedback_ids=tuple(f.id for f in unresolved),
            )
        )
    reopened = [f for f in feedback if f.complaint_reopened]
    if reopened:
        reasons.append(
            Reason(
                "reopened_complaint",
                0.2,
                f"{len(reopened)} complaint(s) reopened",
                feedback_ids=tuple(f.id for f in reopened),
            )
        )
    cues = [f for f in feedback if f.churn_cue and now - f.at <= 180 * DAY]
    if cues:
        reasons.append(
            Reason(
                "churn_cue",
                0.45,
                "wrote that they may leave",
                feedback_ids=tuple(f.id for f in cues),
            )
        )
    severe = [f for f in feedback if f.severity in SEVERITY_WEIGHT and now - f.at <= 90 * DAY]
    if severe:
        worst = max(SEVERITY_WEIGHT[f.severity] for f in severe)
        reasons.append(
            Reason(
                "severe_feedback",
                worst,
                "feedback of high or critical severity",
                feedback_ids=tuple(f.id for f in severe),
            )
        )
    recent = feedback[-3:]
    earlier = feedback[-10:-3]
    recent_mean = sum(f.csat_expected for f in recent) / len(recent) if recent else None
    trend = (
        recent_mean - sum(f.csat_expected for f in earlier) / len(earlier)
        if recent_mean is not None and earlier
        else None
    )
    if recent_mean is not None and (recent_mean <= 2.5 or (trend is not None and trend <= -1)):
        weight = (0.2 if recent_mean <= 2.5 else 0.0) + (
            0.15 if trend is not None and trend <= -1 else 0.0
        )
        text = f"inferred CSAT {recent_mean:.1f} over the last {len(recent)} item(s)"
        if trend is not None:
            text += f" ({trend:+.1f} against before)"
        reasons.append(
            Reason("negative_trend", weight, text, feedback_ids=tuple(f.id for f in recent))
        )
    answer = _latest_answer(feedback, interactions)
    if answer is not None and now - answer[0] <= 180 * DAY:
        _, nps, csat = answer
        if (nps is not None and nps <= 6) or (nps is None and csat is not None and csat <= 2):
            rows = [f.id for f in feedback if f.at == answer[0]]
            ids = [i.id for i in interactions if i.at == answer[0] and i.type == "survey_answered"]
            reasons.append(
                Reason(
                    "detractor_answer",
                    0.3 if nps is not None else 0.25,
                    f"answered NPS {nps}" if nps is not None else f"answered CSAT {csat:g}",
                    feedback_ids=tuple(rows),
                    interaction_ids=tuple(ids),
                )
            )

    reasons.sort(key=lambda r: -r.weight)
    risk = 1.0 - math.prod(1.0 - r.weight for r in reasons)
    for r in reasons:
        features[r.code] = max(features.get(r.code, 0.0), r.weight)
    band = "high" if risk >= HIGH_BAND else "medium" if risk >= MEDIUM_BAND else "low"

    segment, source = None, None
    if answer is not None and now - answer[0] <= 180 * DAY:
        segment, source = _segment_from_answer(answer[1], answer[2]), "survey"
    elif feedback:
        rolling = feedback[-10:]
        segment = nps_class(sum(f.csat_expected for f in rolling) / len(rolling))
        source = "feedback"
    elif band == "high" and not cancellations:
        segment, source = "detractor", "behaviour"
    return Assessment(
        risk=risk,
        band=band,
        reasons=tuple(reasons[:TOP_REASONS]),
        csat_trend=trend,
        segment=segment,
        segment_source=source,
        features=features,
    )


def _voiced(start: datetime, lived: datetime, told: Sequence[datetime]) -> bool:
    """Whether negative feedback or a complaint (at ``told``) came with a bad experience
    that began at ``start`` and was lived at ``lived``."""
    return any(start <= at <= lived + VOICED_WITHIN for at in told)


def _point(code: str, weight: float, message: str, row: tuple[datetime, str, str] | None) -> Reason:
    if row is None:
        return Reason(code, weight, message)
    _, kind, row_id = row
    return Reason(
        code,
        weight,
        message,
        feedback_ids=(row_id,) if kind == "feedback" else (),
        interaction_ids=(row_id,) if kind == "interaction" else (),
    )
