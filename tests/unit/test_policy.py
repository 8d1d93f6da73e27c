"""The flagging policy: which items are complaints, and their priority and SLA."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from workers.policy import FlagPolicy, ItemFacts, decide, load_policy, priority_for, sla_due


def _facts(**overrides: Any) -> ItemFacts:
    base: dict[str, Any] = {
        "channel": "email",
        "sentiment": "neutral",
        "complaint_score": 0.1,
        "severity": "low",
        "churn_risk": False,
        "rating": None,
        "survey_score": None,
        "metadata": {},
    }
    return ItemFacts(**{**base, **overrides})


def test_a_quiet_item_is_not_flagged() -> None:
    decision = decide(FlagPolicy(), _facts())
    assert not decision.flagged and decision.reasons == ()


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"complaint_score": 0.7}, "complaint_model"),
        ({"sentiment": "negative", "rating": 2}, "low_rating"),
        ({"sentiment": "negative", "metadata": {"csat": "3"}}, "low_csat"),
        ({"sentiment": "negative", "survey_score": 6}, "nps_detractor"),
        ({"churn_risk": True}, "churn_risk"),
        ({"severity": "high"}, "severity"),
    ],
)
def test_each_rule_flags_on_its_own(overrides: dict[str, Any], reason: str) -> None:
    decision = decide(FlagPolicy(), _facts(**overrides))
    assert decision.flagged and decision.reasons == (reason,)


def test_low_scores_need_negative_text() -> None:
    assert not decide(FlagPolicy(), _facts(rating=1, survey_score=2)).flagged


def test_the_threshold_and_rules_are_per_policy() -> None:
    strict = FlagPolicy(complaint_threshold=0.9, flag_churn_risk=False, flag_min_severity=None)
    assert not decide(strict, _facts(complaint_score=0.7, churn_risk=True, severity="high")).flagged
    assert decide(strict, _facts(complaint_score=0.95)).reasons == ("complaint_model",)


def test_priority_rises_with_severity_churn_value_and_a_public_channel() -> None:
    policy = FlagPolicy()
    quiet = decide(policy, _facts(complaint_score=0.6))
    loud = decide(
        policy,
        _facts(
            complaint_score=0.95,
            severity="high",
            churn_risk=True,
            channel="social",
            metadata={"customer_value": 5000},
        ),
    )
    assert quiet.priority == "p4" and loud.priority == "p1"
    assert loud.customer_value == 5000
    social = decide(policy, _facts(complaint_score=0.6, severity="high", channel="social"))
    email = decide(policy, _facts(complaint_score=0.6, severity="high", channel="email"))
    assert social.score > email.score
    vip = decide(policy, _facts(complaint_score=0.6, metadata={"tier": "VIP"}))
    assert vip.score == quiet.score + 2


def test_priority_bands_and_sla_due() -> None:
    assert [priority_for(s) for s in (7, 4, 2, 0)] == ["p1", "p2", "p3", "p4"]
    at = datetime(2026, 1, 1, tzinfo=UTC)
    policy = FlagPolicy.model_validate({"sla_hours": {"p1": 2}})
    assert sla_due(policy, "p1", at) == at + timedelta(hours=2)
    assert sla_due(policy, "p4", at) == at + timedelta(hours=168)


def test_stored_documents_are_validated() -> None:
    assert load_policy(None) == FlagPolicy()
    for bad in ({"complaint_threshold": 2}, {"unknown": 1}, {"vip_tiers": ["a\x00"]}):
        with pytest.raises(ValidationError):
            FlagPolicy.model_validate(bad)
