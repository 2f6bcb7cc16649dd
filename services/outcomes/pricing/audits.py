"""Post-payment audits: the sample a seed draws from a population of paid claims, and what the findings
on it claw back. Pure and exact.

Invariants: the same seed and population always draw the same sample (each claim ranked by the SHA-256
of `"<seed>:<claim id>"` in hex, the lowest ranks drawn: checkable with any SHA-256 tool); an invalidated
claim is clawed back exactly its paid amount, once; the extrapolated adjustment is the sample's error
rate by value (invalid paid value / sampled paid value) times the paid value of the claims not sampled,
rounded half up to the currency's minor unit, then held to the rule's cap; so no audit claws back more
than was paid for its population. Amounts here are positive (what is taken back); the caller books them
as negative lines.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from typing import Any, Literal
from uuid import UUID

from services.outcomes.pricing.money import ZERO, minor_unit, quantise, text

HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class Rule:
    """A payer's audit rule from the terms (`audits`)."""

    sample_size: int | None
    sample_percent: Decimal | None
    extrapolation: Literal["none", "by_value"] = "none"
    threshold_percent: Decimal | None = None
    cap: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Paid:
    """A claim of the audited population and what the payer paid for it (more than zero)."""

    claim_id: UUID
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Clawback:
    claim_id: UUID
    amount: Decimal  # the claim's paid amount, taken back


@dataclass(frozen=True, slots=True)
class Settlement:
    clawbacks: tuple[Clawback, ...]
    extrapolated: Decimal  # ZERO when the rule does not extrapolate, or nothing was found
    working: dict[str, Any]

    @property
    def total(self) -> Decimal:
        """Everything the audit takes back."""
        return sum((c.amount for c in self.clawbacks), ZERO) + self.extrapolated


def sample_size(rule: Rule, population: int) -> int:
    """How many of `population` claims are sampled: the rule's size, or its percent rounded up to a whole
    claim; never more than the population."""
    if population <= 0:
        return 0
    if rule.sample_size is not None:
        return min(rule.sample_size, population)
    if rule.sample_percent is None:
        raise ValueError("an audit rule gives a sample size or a sample percent")
    return min(population, max(1, math.ceil(rule.sample_percent * population / HUNDRED)))


def rank(seed: str, claim_id: UUID) -> str:
    """A claim's place in the draw: lower is drawn first."""
    return hashlib.sha256(f"{seed}:{claim_id}".encode()).hexdigest()


def draw(seed: str, claim_ids: Iterable[UUID], size: int) -> tuple[UUID, ...]:
    """The `size` claims of lowest rank under `seed`, in rank order (ties, never met, by claim id)."""
    ranked = sorted(set(claim_ids), key=lambda c: (rank(seed, c), str(c)))
    return tuple(ranked[: max(size, 0)])


def settle(
    rule: Rule,
    population: Sequence[Paid],
    sampled: Collection[UUID],
    invalid: Collection[UUID],
    currency: str,
) -> Settlement:
    """The clawbacks and the extrapolated adjustment the findings give. `sampled` must be claims of the
    population and `invalid` claims of the sample (`ValueError` otherwise); every amount must be exact to
    the currency's minor unit and more than zero."""
    paid = {p.claim_id: quantise(p.amount, currency) for p in population}
    if len(paid) != len(population):
        raise ValueError("a claim appears twice in the population")
    if any(amount <= ZERO for amount in paid.values()):
        raise ValueError("every claim of the population was paid more than zero")
    if not set(sampled) <= set(paid):
        raise ValueError("the sample holds a claim outside the population")
    if not set(invalid) <= set(sampled):
        raise ValueError("a finding names a claim outside the sample")
    population_value = sum(paid.values(), ZERO)
    sample_value = sum((paid[c] for c in sampled), ZERO)
    clawbacks = tuple(Clawback(c, paid[c]) for c in sorted(invalid, key=str))
    invalid_value = sum((c.amount for c in clawbacks), ZERO)
    unsampled_value = population_value - sample_value
    working: dict[str, Any] = {
        "population_claims": len(paid),
        "population_value": text(population_value, currency),
        "sampled_claims": len(sampled),
        "sampled_value": text(sample_value, currency),
        "invalid_claims": len(clawbacks),
        "invalid_value": text(invalid_value, currency),
        "clawed_back": text(invalid_value, currency),
        "extrapolation": rule.extrapolation,
    }
    extrapolated, reason = _extrapolate(rule, invalid_value, sample_value, unsampled_value, currency, working)
    working["extrapolated"] = text(extrapolated, currency)
    working["reason"] = reason
    working["total"] = text(invalid_value + extrapolated, currency)
    return Settlement(clawbacks, extrapolated, working)


def _extrapolate(
    rule: Rule,
    invalid_value: Decimal,
    sample_value: Decimal,
    unsampled_value: Decimal,
    currency: str,
    working: dict[str, Any],
) -> tuple[Decimal, str]:
    if rule.extrapolation == "none":
        return ZERO, "the terms do not extrapolate"
    if sample_value == ZERO or invalid_value == ZERO:
        return ZERO, "no invalid claim in the sample"
    # Exact enough for any stored amount: 18 digits times 18 digits, divided, then rounded once.
    with localcontext(Context(prec=60)):
        rate_percent = invalid_value * HUNDRED / sample_value
        working["error_rate_percent"] = str(rate_percent.quantize(Decimal("0.0001"), ROUND_HALF_UP))
        working["unsampled_claims"] = working["population_claims"] - working["sampled_claims"]
        working["unsampled_value"] = text(unsampled_value, currency)
        if rule.threshold_percent is not None and rate_percent <= rule.threshold_percent:
            working["threshold_percent"] = str(rule.threshold_percent)
            return ZERO, "the error rate is at or under the terms' threshold"
        exact = invalid_value * unsampled_value / sample_value
    computed = exact.quantize(minor_unit(currency), ROUND_HALF_UP)
    working["formula"] = "invalid_value / sampled_value * unsampled_value, rounded half up"
    working["computed"] = text(computed, currency)
    if rule.cap is not None and computed > rule.cap:
        working["cap"] = text(rule.cap, currency)
        return quantise(rule.cap, currency), "held to the terms' extrapolation cap"
    return computed, "the sample's error rate by value applied to the claims not sampled"
