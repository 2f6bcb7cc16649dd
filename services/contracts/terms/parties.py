"""Parties and termination, the same in every schema version: who is bound, who must sign, who may end
the contract alone; and the rules a document must meet before it is proposed for signature."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from uuid import UUID

from pydantic import Field

from kit.partners import MembershipRole
from services.contracts.terms.issues import Issue
from services.contracts.terms.strict import Strict

# Parties who pay or are paid under the contract: never bound, nor billed, without their own signature.
ALWAYS_SIGN = frozenset({"outcome_payer", "provider"})


class Party(Strict):
    organisation_id: UUID
    role: MembershipRole = Field(description="The organisation's membership role in the partnership")
    must_sign: bool = True


class Termination(Strict):
    """Who may end the contract alone, and on how many days' notice. Without this block a contract ends
    only by agreement: every party that signed it consents to the same date."""

    unilateral_roles: list[MembershipRole] = Field(
        default_factory=list, max_length=6, description="Parties in these roles may terminate alone"
    )
    unilateral_organisations: list[UUID] = Field(
        default_factory=list, max_length=100, description="These parties may terminate alone"
    )
    notice_days: int = Field(ge=0, le=3650, description="A unilateral termination takes effect no earlier")


def payers(parties: Sequence[Party]) -> list[UUID]:
    """The outcome payers, in the order the document lists them."""
    return [p.organisation_id for p in parties if p.role == "outcome_payer"]


def party_issues(parties: Sequence[Party]) -> Iterator[Issue]:
    seen: set[UUID] = set()
    for i, party in enumerate(parties):
        if party.organisation_id in seen:
            yield Issue(f"parties.{i}.organisation_id", "each organisation is a party once")
        seen.add(party.organisation_id)
        if party.role in ALWAYS_SIGN and not party.must_sign:
            yield Issue(
                f"parties.{i}.must_sign",
                f"must be true: a {party.role!r} party is bound only by its own signature",
            )


def termination_issues(grant: Termination | None, parties: Sequence[Party]) -> Iterator[Issue]:
    if grant is None:
        return
    if not grant.unilateral_roles and not grant.unilateral_organisations:
        yield Issue(
            "termination",
            "name the roles or organisations that may terminate alone, or leave the block out "
            "(termination is then by agreement of every signing party)",
        )
    signing = [p for p in parties if p.must_sign]
    for j, role in enumerate(grant.unilateral_roles):
        if role not in {p.role for p in signing}:
            yield Issue(f"termination.unilateral_roles.{j}", f"no party that signs has the role {role!r}")
    if len(set(grant.unilateral_roles)) != len(grant.unilateral_roles):
        yield Issue("termination.unilateral_roles", "each role once")
    for j, organisation_id in enumerate(grant.unilateral_organisations):
        if organisation_id not in {p.organisation_id for p in signing}:
            yield Issue(f"termination.unilateral_organisations.{j}", "must be a party that signs")
    if len(set(grant.unilateral_organisations)) != len(grant.unilateral_organisations):
        yield Issue("termination.unilateral_organisations", "each organisation once")


def proposal_issues(parties: Sequence[Party]) -> list[Issue]:
    """Rules a version must meet before it can be proposed for signature, beyond its schema's checks."""
    roles = {p.role for p in parties}
    issues = [
        Issue("parties", f"a proposal needs at least one `{role}` party")
        for role in ("outcome_payer", "provider")
        if role not in roles
    ]
    signing_roles = {p.role for p in parties if p.must_sign}
    if not signing_roles:
        issues.append(Issue("parties", "at least one party must sign"))
    elif signing_roles <= {"adviser"}:
        issues.append(Issue("parties", "an adviser drafts, but its signature alone never binds the parties"))
    return issues


def party(parties: Sequence[Party], organisation_id: UUID) -> Party | None:
    return next((p for p in parties if p.organisation_id == organisation_id), None)


def signing_parties(parties: Sequence[Party]) -> list[UUID]:
    return [p.organisation_id for p in parties if p.must_sign]


def may_terminate_alone(parties: Sequence[Party], grant: Termination | None, organisation_id: UUID) -> bool:
    """Whether the terms grant this party unilateral termination (with `termination.notice_days`)."""
    found = party(parties, organisation_id)
    if found is None or not found.must_sign or grant is None:
        return False
    return organisation_id in grant.unilateral_organisations or found.role in grant.unilateral_roles
