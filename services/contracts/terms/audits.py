"""Post-payment audits: which outcome payer may check the claims it has paid, on what sample, and what
the sample's findings cost the provider. A payer opens an audit of its paid claims for a period; the
outcome service draws the sample reproducibly (seeded), the payer records a finding per sampled claim,
and closing the audit claws back each invalidated claim's paid amount. With `extrapolation: by_value`
the sample's error rate by value is also applied to the paid value of the claims not sampled, as one
separate adjustment, unless the rate is at or under `threshold_percent` (a floor), and at most
`extrapolation_cap` (a cap).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal
from uuid import UUID

from pydantic import Field

from services.contracts.terms.issues import Issue
from services.contracts.terms.money import Money, Percent, inexact
from services.contracts.terms.strict import Strict

Extrapolation = Literal["none", "by_value"]


class AuditRule(Strict):
    payer_organisation_id: UUID = Field(description="The outcome payer that may audit the claims it paid")
    sample_size: int | None = Field(
        None, ge=1, le=10_000, description="Claims sampled (all of them when the population is smaller)"
    )
    sample_percent: Percent | None = Field(
        None, description="The share of the population sampled, rounded up to a whole claim"
    )
    extrapolation: Extrapolation = Field(
        "none",
        description="`none`: only invalidated claims are clawed back; `by_value`: the sample's error rate "
        "by value is also applied to the paid value of the claims not sampled",
    )
    threshold_percent: Percent | None = Field(
        None, description="An error rate at or under this is not extrapolated (only with `by_value`)"
    )
    extrapolation_cap: Money | None = Field(
        None, description="The most one audit's extrapolated adjustment claws back (only with `by_value`)"
    )


def audit_issues(rules: Sequence[AuditRule], payers: Sequence[UUID], currency: str) -> Iterator[Issue]:
    seen: set[UUID] = set()
    for i, rule in enumerate(rules):
        at = f"audits.{i}"
        if rule.payer_organisation_id not in payers:
            yield Issue(f"{at}.payer_organisation_id", "must be an outcome_payer party")
        elif rule.payer_organisation_id in seen:
            yield Issue(f"{at}.payer_organisation_id", "this payer's audit rule is already given")
        seen.add(rule.payer_organisation_id)
        if (rule.sample_size is None) == (rule.sample_percent is None):
            yield Issue(at, "give exactly one of `sample_size` or `sample_percent`")
        if rule.extrapolation == "none":
            for name in ("threshold_percent", "extrapolation_cap"):
                if getattr(rule, name) is not None:
                    yield Issue(f"{at}.{name}", "applies only with `extrapolation: by_value`")
        cap = rule.extrapolation_cap
        if cap is not None:
            if cap <= 0:
                yield Issue(f"{at}.extrapolation_cap", "must be more than zero")
            elif reason := inexact(cap, currency):
                yield Issue(f"{at}.extrapolation_cap", reason)
