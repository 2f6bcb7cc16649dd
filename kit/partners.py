"""The token contract's partner vocabulary, spelled once for every service and the gateway: what kind of
partner an organisation is (the token's `partner_type`) and the roles a membership gives it in one
partnership (`memberships[].role`). Values only; which type or role may do what is each service's rule.

An `outcome_funder` is a national agency or outcome fund that pays for outcomes, as a municipality does,
but has no residents (no municipality code)."""

from __future__ import annotations

from typing import Final, Literal, get_args

PartnerType = Literal[
    "municipality", "outcome_funder", "provider", "investor", "evaluator", "legal_adviser", "operator"
]
MembershipRole = Literal["outcome_payer", "provider", "investor", "evaluator", "adviser", "observer"]

PARTNER_TYPES: Final[tuple[PartnerType, ...]] = get_args(PartnerType)
MEMBERSHIP_ROLES: Final[tuple[MembershipRole, ...]] = get_args(MembershipRole)
