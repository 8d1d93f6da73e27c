"""A simulated tenant over six months, with a hidden truth the churn scorer never reads.

    .venv/bin/python -m eval.customers [--customers 4000] [--seed 7]

Each customer has a hidden rhythm (a mean gap between orders), a hidden satisfaction that
bad experiences lower and time slowly restores, a propensity to complain, and whether they
report a cancellation when they leave (a subscription) or simply go quiet. Every day a
customer may decide to leave with a hazard that grows with dissatisfaction; from then on
they do nothing. Engagement follows satisfaction: an unhappy customer orders less often.

The scorer (``workers.customer_risk.assess``) sees only what a tenant would send: orders,
deliveries with promised and actual dates, support contacts with wait and resolution,
survey answers, cancellations, and feedback as the analysis would describe it (sentiment,
inferred CSAT, complaint, churn cue, severity, with the analysis's errors simulated).

Evaluated at the end of month six (T): customers seen in the last 90 days and not known to
have cancelled; a customer "churns within 30 days" when their hidden departure is before
T + 30 days (a customer who already left silently counts: nobody has noticed yet).
Printed: AUC, precision in the top 10% and recall of silent churners (never complained) in
the top 20%, for the transparent score and for the model trained on the outcomes the
tenant's rows show (cancellations and lapses in the 30 days before T, features as of
T - 30; see workers.customer_model.churn_label).
"""

from __future__ import annotations

import argparse
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from workers.customer_model import auc, churn_label, precision_at, recall_at, train_and_compare
from workers.customer_risk import Assessment, FeedbackFact, InteractionFact, assess

START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 180
HORIZON = 30
DAY = timedelta(days=1)


@dataclass
class Truth:
    """What the simulator knows and the scorer never reads."""

    gap_days: float
    departure_day: float | None = None
    complained: bool = False
    subscriber: bool = False


@dataclass
class Customer:
    """One simulated customer: the rows a tenant would send, and the hidden truth."""

    ref: str
    truth: Truth
    feedback: list[FeedbackFact] = field(default_factory=list)
    interactions: list[InteractionFact] = field(default_factory=list)


def _at(day: float) -> datetime:
    return START + timedelta(days=day)


def simulate(n: int, seed: int) -> list[Customer]:
    """Simulate ``n`` customers over DAYS + HORIZON days."""
    rng = random.Random(seed)
    return [_one(f"sim-{k:05d}", rng) for k in range(n)]


def _one(ref: str, rng: random.Random) -> Customer:
    """One customer's six months and the 30 days after."""
    truth = Truth(
        gap_days=math.exp(rng.gauss(math.log(12), 0.5)),
        subscriber=rng.random() < 0.4,
    )
    c = Customer(ref, truth)
    complain_p = rng.choice([0.7, 0.35, 0.0])  # tells the business / sometimes / never
    late_p = rng.uniform(0.03, 0.2)
    satisfaction = rng.uniform(0.75, 1.0)
    day = rng.uniform(0, truth.gap_days)
    seq = 0

    def row_id(kind: str) -> str:
        nonlocal seq
        seq += 1
        return f"{ref}-{kind}-{seq}"

    def write(day: float, negative: bool, churn: bool) -> None:
        # What the analysis would report, with its errors: 15% of sentiments wrong.
        wrong = rng.random() < 0.15
        neg = negative != wrong
        stars = rng.uniform(1.2, 2.6) if neg else rng.uniform(3.6, 4.9)
        complaint = neg and rng.random() < 0.8
        c.feedback.append(
            FeedbackFact(
                id=row_id("fb"),
                at=_at(day),
                channel=rng.choice(["review", "social", "email"]),
                sentiment="negative" if neg else "positive",
                csat_expected=stars,
                churn_cue=churn and rng.random() < 0.6,
                severity="high" if neg and rng.random() < 0.3 else "low",
                complaint_id=row_id("cmp") if complaint else None,
                complaint_status=(
                    ("resolved" if rng.random() < 0.6 else "open") if complaint else None
                ),
            )
        )
        if complaint and negative:
            truth.complained = True

    last = 0.0
    while day < DAYS + HORIZON:
        # Satisfaction recovers slowly between visits; a departure may come first.
        satisfaction = min(1.0, satisfaction + 0.004 * (day - last))
        hazard = 0.0004 + 0.03 * (1 - satisfaction) ** 2
        if rng.random() < 1 - math.exp(-hazard * (day - last)):
            leave = last + rng.uniform(0, day - last)
            truth.departure_day = leave
            if truth.subscriber:
                c.interactions.append(
                    InteractionFact(
                        row_id("cancel"), "cancellation", _at(leave + rng.uniform(0, 10))
                    )
                )
            break
        last = day
        value = round(rng.uniform(50, 400), 2)
        c.interactions.append(InteractionFact(row_id("order"), "order", _at(day), value))
        promised = day + 3
        late = rng.random() < late_p
        delivered = promised + (rng.uniform(1.5, 6) if late else rng.uniform(-2, 0.5))
        c.interactions.append(
            InteractionFact(
                row_id("delivery"),
                "delivery",
                _at(day),
                attributes={
                    "promised_at": _at(promised).isoformat(),
                    "delivered_at": _at(delivered).isoformat(),
                },
            )
        )
        bad = late
        if late:
            satisfaction -= rng.uniform(0.2, 0.4)
        if rng.random() < 0.12 + (0.5 if late else 0):
            failed = rng.random() < 0.35
            wait = rng.expovariate(1 / (1500 if failed else 300))
            c.interactions.append(
                InteractionFact(
                    row_id("contact"),
                    "support_contact",
                    _at(delivered + 0.2),
                    attributes={"wait_seconds": round(wait), "resolved": not failed},
                )
            )
            if failed or wait > 900:
                satisfaction -= rng.uniform(0.15, 0.35)
                bad = True
        if bad and rng.random() < complain_p:
            write(delivered + rng.uniform(0, 1), True, satisfaction < 0.4)
        elif rng.random() < 0.08:
            write(delivered + rng.uniform(0, 2), satisfaction < 0.5, satisfaction < 0.3)
        if rng.random() < 0.06:
            nps = max(0, min(10, round(10 * satisfaction + rng.gauss(0, 1.5))))
            c.interactions.append(
                InteractionFact(
                    row_id("survey"),
                    "survey_answered",
                    _at(delivered + 1),
                    attributes={"nps": nps},
                )
            )
        satisfaction = max(0.0, satisfaction)
        # Engagement follows satisfaction: unhappy customers come back less often.
        engagement = 0.35 + 0.65 * satisfaction
        day += rng.gammavariate(4, truth.gap_days / 4) / engagement
    return c


def _assess(c: Customer, day: float) -> Assessment:
    return assess(c.feedback, c.interactions, _at(day))


def _eligible(c: Customer, day: float) -> bool:
    """Seen in the 90 days before ``day`` and no cancellation reported by then."""
    now = _at(day)
    seen = [f.at for f in c.feedback if f.at <= now]
    seen += [i.at for i in c.interactions if i.at <= now]
    cancelled = any(i.type == "cancellation" and i.at <= now for i in c.interactions)
    return bool(seen) and now - max(seen) <= 90 * DAY and not cancelled


def evaluate(customers: list[Customer]) -> dict[str, float | int | None]:
    """The figures of the transparent score and of the model trained on reported outcomes."""
    t = DAYS
    population = [c for c in customers if _eligible(c, t)]
    labels = [
        int(c.truth.departure_day is not None and c.truth.departure_day < t + HORIZON)
        for c in population
    ]
    silent = [
        int(y == 1 and not c.truth.complained) for c, y in zip(population, labels, strict=True)
    ]
    now = [_assess(c, t) for c in population]
    transparent = [a.risk for a in now]

    # With outcomes, as `langnghe train --churn` does it: features as of T - 30, labels =
    # cancellations or lapses the tenant saw in (T-30, T], fit on 70%, compared on the held-out 30%;
    # the model scores at T only if it beat the transparent score there.
    t0 = t - HORIZON
    train = [c for c in customers if _eligible(c, t0)]
    outcomes = {c.ref: churn_label(c.feedback, c.interactions, _at(t0), _at(t)) for c in train}
    model, report = train_and_compare({c.ref: _assess(c, t0) for c in train}, outcomes)
    chosen = model if model is not None and report["use_model"] else None
    trained = [chosen.predict(a) for a in now] if chosen else transparent
    fitted = [model.predict(a) for a in now] if model else transparent
    return {
        "customers": len(customers),
        "evaluated": len(population),
        "churn_30d": sum(labels),
        "silent_churners": sum(silent),
        "train_customers": len(train),
        "train_churned": sum(outcomes.values()),
        "auc_transparent": auc(transparent, labels),
        "p_top10_transparent": precision_at(transparent, labels, 0.10),
        "silent_recall_top20_transparent": recall_at(transparent, silent, 0.20),
        "heldout_auc_churn_transparent": report.get("transparent", {}).get("auc"),
        "heldout_auc_churn_model": report.get("model", {}).get("auc"),
        "model_chosen": int(chosen is not None),
        "auc_with_outcomes": auc(trained, labels),
        "p_top10_with_outcomes": precision_at(trained, labels, 0.10),
        "silent_recall_top20_with_outcomes": recall_at(trained, silent, 0.20),
        "auc_model_forced": auc(fitted, labels),
    }


def main() -> None:
    """Simulate, score and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    figures = evaluate(simulate(args.customers, args.seed))
    for key, value in figures.items():
        print(f"{key:34s} {value:.3f}" if isinstance(value, float) else f"{key:34s} {value}")


if __name__ == "__main__":
    main()
