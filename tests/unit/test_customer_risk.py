"""The transparent churn score as pure functions: reasons, weights, the noisy OR, segments."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from workers.customer_model import churn_label
from workers.customer_risk import (
    RECOVERY,
    FeedbackFact,
    InteractionFact,
    assess,
    bad_experience,
    bad_experience_load,
    bad_experiences_weight,
    experienced_at,
    frequency_drop_weight,
    usual_gap,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _days(n: float) -> datetime:
    return NOW - timedelta(days=n)


def _orders(*days: float) -> list[InteractionFact]:
    return [InteractionFact(f"o{d}", "order", _days(d), 10.0) for d in days]


def _late(ref: str, ordered: float, delivered: float) -> InteractionFact:
    """A delivery of the order placed ``ordered`` days ago, promised a day later, that
    arrived ``delivered`` days ago."""
    return InteractionFact(
        ref,
        "delivery",
        _days(ordered),
        attributes={
            "promised_at": _days(ordered - 1).isoformat(),
            "delivered_at": _days(delivered).isoformat(),
        },
    )


def test_reasons_combine_as_a_noisy_or_and_name_their_rows() -> None:
    late = InteractionFact(
        "d1",
        "delivery",
        _days(49),
        attributes={"promised_at": _days(48).isoformat(), "delivered_at": _days(44).isoformat()},
    )
    a = assess([], [*_orders(130, 110, 90, 70, 50), late], NOW)
    assert [r.code for r in a.reasons] == [
        "silence_after_bad_experience",
        "frequency_drop",
        "bad_experiences",
    ]
    assert a.reasons[0].interaction_ids == ("d1",)
    assert a.reasons[1].interaction_ids == ("o50",)
    assert math.isclose(a.risk, 1 - math.prod(1 - r.weight for r in a.reasons))
    assert a.band == "high" and (a.segment, a.segment_source) == ("detractor", "behaviour")


def test_rows_after_now_are_ignored_and_a_steady_customer_is_low() -> None:
    a = assess([], _orders(40, 30, 20, 10, -5), NOW)
    assert a.reasons == () and a.risk == 0 and a.band == "low"


def test_a_real_answer_sets_the_segment_and_a_detractor_answer_is_a_reason() -> None:
    answer = InteractionFact("s1", "survey_answered", _days(3), attributes={"nps": 4})
    item = FeedbackFact("f1", _days(5), "review", "positive", 4.8, False, "low")
    a = assess([item], [answer], NOW)
    assert (a.segment, a.segment_source) == ("detractor", "survey")
    assert a.reasons[0].code == "detractor_answer" and a.reasons[0].interaction_ids == ("s1",)
    assert assess([item], [], NOW).segment == "promoter"


def test_bad_experiences() -> None:
    contact = InteractionFact("c", "support_contact", NOW, attributes={"wait_seconds": 1200})
    assert bad_experience(contact, NOW) == "waited 20 min for support"
    unresolved = InteractionFact("c", "support_contact", NOW, attributes={"resolved": False})
    assert bad_experience(unresolved, NOW) == "support contact left unresolved"
    lost = InteractionFact(
        "d", "delivery", _days(5), attributes={"promised_at": _days(3).isoformat()}
    )
    assert bad_experience(lost, NOW) == "never delivered"
    # As of a day before it arrived, a delivery 4 days late is not known to be late yet:
    # it is only late once it is past the grace without having arrived.
    late = _late("d", 10, 5)
    assert bad_experience(late, NOW) == "delivered 4.0 days late"
    assert bad_experience(late, _days(6)) == "never delivered"
    assert bad_experience(late, _days(8)) is None
    assert bad_experience(InteractionFact("o", "order", NOW), NOW) is None


def test_the_rhythm_is_the_gap_between_orders_not_between_an_order_and_its_contact() -> None:
    orders = [_days(d) for d in (80, 60, 40, 20)]
    contacts = [_days(d - 3) for d in (80, 60, 40, 20)]
    assert usual_gap(orders, sorted(orders + contacts)) == timedelta(days=20)
    assert usual_gap(orders[:2], sorted(orders[:2] + contacts[:2])) == timedelta(days=3)
    assert usual_gap([], [_days(5)]) is None


def test_silence_weighs_more_the_longer_it_runs_against_the_rhythm() -> None:
    weights = [frequency_drop_weight(r) for r in (1.25, 1.5, 2, 3, 10)]
    # Saturating, not capped: 10 gaps of silence still weighs more than 3.
    assert weights == sorted(weights) and len(set(weights)) == len(weights)
    assert weights[0] > 0 and 0.99 < weights[-1] < 1
    assert frequency_drop_weight(1.0) == 0 and frequency_drop_weight(0.5) == 0


def test_a_churn_label_is_a_cancellation_or_a_lapse_against_the_rhythm() -> None:
    cutoff = _days(30)
    regular = _orders(100, 90, 80, 70, 60, 50, 40)  # every 10 days, silent since day 40
    assert churn_label([], regular, cutoff, NOW) == 1
    assert churn_label([], [*regular, *_orders(5)], cutoff, NOW) == 0
    monthly = _orders(190, 160, 130, 100, 70, 40)  # every 30 days: 40 days is not a lapse
    assert churn_label([], monthly, cutoff, NOW) == 0
    cancel = InteractionFact("c", "cancellation", _days(10))
    assert churn_label([], [*regular, *_orders(5), cancel], cutoff, NOW) == 1


def test_bad_experiences_are_made_up_for_over_time_and_weigh_more_together() -> None:
    assert bad_experience_load([], NOW) == (0.0, 0)
    assert bad_experience_load([NOW - RECOVERY / 2], NOW) == (0.5, 0)
    # The first was made up for before the second: only the last two still count.
    times = [_days(200), _days(20), _days(11)]
    load, first = bad_experience_load(times, NOW)
    assert first == 1 and math.isclose(load, 2 - 20 / 90)
    weights = [bad_experiences_weight(n) for n in (0, 1, 2, 3, 5)]
    assert [round(w, 2) for w in weights] == [0, 0.30, 0.76, 0.96, 1.0]
    # Saturating, not capped: five still weigh more than three.
    assert weights[3] < weights[4] < 1
    # Patience runs out: the second bad experience adds more than the first.
    assert weights[2] - weights[1] > weights[1]


def test_only_bad_experiences_nobody_was_told_about_count_as_bad_experiences() -> None:
    late = _late("d1", 12, 8)
    assert experienced_at(late, NOW) == _days(8)
    assert experienced_at(late, _days(10)) == _days(12)  # not arrived yet then
    orders = _orders(40, 30, 20, 12, 2)
    unvoiced = assess([], [*orders, late], NOW)
    (reason,) = [r for r in unvoiced.reasons if r.code == "bad_experiences"]
    assert reason.interaction_ids == ("d1",) and "delivered 3.0 days late" in reason.message
    assert math.isclose(reason.weight, bad_experiences_weight(1 - 8 / 90))
    told = FeedbackFact("f1", _days(7), "review", "negative", 1.5, False, "low")
    voiced = assess([told], [*orders, late], NOW)
    assert "bad_experiences" not in [r.code for r in voiced.reasons]
    praise = FeedbackFact("f1", _days(7), "review", "positive", 4.5, False, "low")
    assert "bad_experiences" in [r.code for r in assess([praise], [*orders, late], NOW).reasons]
    # A detractor answer is the customer telling us: it weighs as detractor_answer alone.
    answer = InteractionFact("s1", "survey_answered", _days(3), attributes={"nps": 3})
    codes = [r.code for r in assess([], [*orders, answer], NOW).reasons]
    assert codes == ["detractor_answer"]


def test_contacting_support_about_a_bad_experience_is_not_coming_back() -> None:
    contact = InteractionFact("c1", "support_contact", _days(44), attributes={"resolved": True})
    a = assess([], [*_orders(130, 110, 90, 70, 50), _late("d1", 50, 45), contact], NOW)
    assert a.reasons[0].code == "silence_after_bad_experience"
    assert a.reasons[0].interaction_ids == ("d1",)
    again = assess([], [*_orders(130, 110, 90, 70, 50, 30), _late("d1", 50, 45)], NOW)
    assert "silence_after_bad_experience" not in [r.code for r in again.reasons]
