"""Who may see and do what in the outcome service: every row rule, by membership role, in one place.

Deny by default. A caller's roles come from its token's memberships (`Principal.roles_in`); the tables
below name which roles a rule admits, and every read of participants, claims and statements starts from
a `readable_<plural>` query built here. No other module of the service names a role. The gateway's
`policy.py` hides fields per partner type on top of this; it is never the only wall.

| rows                    | whole partnership                     | only some rows               |
|-------------------------|---------------------------------------|------------------------------|
| participants, claims    | provider, evaluator                   | outcome payer: its residents |
| evidence documents      | provider, outcome payer               | (never evaluators)           |
| statements' totals      | provider, investor, adviser, observer | outcome payer: its own       |
| statements' claim lines | provider                              | outcome payer: its own       |
| aggregates, ledger      | every partner, the operator           |                              |
| feed/webhook pseudonyms | provider, evaluator                   | outcome payer: its residents |
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

from sqlalchemy import Select, and_, false, or_, select

from kit.auth import Principal
from services.outcomes.bulk.models import BulkImport
from services.outcomes.models import OutcomeClaim, Participant, PaymentStatement

OUTCOME_PAYER: Final = "outcome_payer"
PROVIDER: Final = "provider"
INVESTOR: Final = "investor"
EVALUATOR: Final = "evaluator"
ADVISER: Final = "adviser"
OBSERVER: Final = "observer"

# --- participants and claims ------------------------------------------------------------------------------

# Roles that see every participant (and claim) of their partnerships; the outcome payer sees its residents.
SEES_ALL_PARTICIPANTS: Final = frozenset({PROVIDER, EVALUATOR})
SEES_RESIDENTS: Final = frozenset({OUTCOME_PAYER})
# Who enrols: the provider, or the outcome payer for its own residents; the same two record an exit.
ENROLS: Final = frozenset({PROVIDER})
# Who claims outcomes and disputes its own claims' rejections.
CLAIMS: Final = frozenset({PROVIDER})
# Who resolves a dispute (verification itself is by the roles the contract's outcome names).
RESOLVES_DISPUTES: Final = frozenset({OUTCOME_PAYER})
# Evidence documents: never evaluators, who work on pseudonymised records.
READS_EVIDENCE: Final = frozenset({PROVIDER, OUTCOME_PAYER})

# --- statements -------------------------------------------------------------------------------------------

SEES_ALL_STATEMENTS: Final = frozenset({PROVIDER, INVESTOR, ADVISER, OBSERVER})
SEES_OWN_STATEMENTS: Final = frozenset({OUTCOME_PAYER})
# A statement's lines name claims, and through them people: the provider's and the payer's own only. The
# other readers get its totals, by outcome, period and payer (`StatementRead.outcomes`).
READS_ALL_STATEMENT_LINES: Final = frozenset({PROVIDER})
READS_OWN_STATEMENT_LINES: Final = frozenset({OUTCOME_PAYER})
# Who prepares and issues a payer's statement: the provider, or the payer itself.
PREPARES_STATEMENTS: Final = frozenset({PROVIDER})

# --- feed and webhook audiences ---------------------------------------------------------------------------

# Roles whose feed items and webhook deliveries carry every participant's pseudonym; the payer's, only its
# residents'.
SEES_ALL_PSEUDONYMS: Final = frozenset({PROVIDER, EVALUATOR})
SEES_RESIDENT_PSEUDONYMS: Final = frozenset({OUTCOME_PAYER})
# The most revealing role first: it decides a webhook subscription's audience.
AUDIENCE_ORDER: Final = (PROVIDER, EVALUATOR, OUTCOME_PAYER, INVESTOR, ADVISER, OBSERVER)


def _participant_visibility(principal: Principal) -> Any:
    conditions = []
    for partnership_id, roles in principal.memberships.items():
        if roles & SEES_ALL_PARTICIPANTS:
            conditions.append(Participant.partnership_id == partnership_id)
        elif roles & SEES_RESIDENTS and principal.municipality_code:
            conditions.append(
                and_(
                    Participant.partnership_id == partnership_id,
                    Participant.municipality_code == principal.municipality_code,
                )
            )
    return or_(*conditions) if conditions else false()


def readable_participants(principal: Principal) -> Select[Participant]:
    """The participants `principal` may see; investors, advisers, observers and operators see none."""
    return select(Participant).where(_participant_visibility(principal))


def readable_claims(principal: Principal) -> Select[OutcomeClaim]:
    """A claim is visible exactly when its participant is."""
    return (
        select(OutcomeClaim)
        .join(Participant, Participant.id == OutcomeClaim.participant_id)
        .where(_participant_visibility(principal))
    )


def is_municipality_of_residence(principal: Principal, participant: Participant) -> bool:
    """The outcome payer of the participant's municipality: it alone reads the municipal reference and
    confirms eligibility."""
    return bool(principal.roles_in(participant.partnership_id) & SEES_RESIDENTS) and (
        principal.municipality_code == participant.municipality_code
    )


def may_enrol(principal: Principal, partnership_id: UUID, municipality_code: str) -> bool:
    roles = principal.roles_in(partnership_id)
    own_resident = bool(roles & SEES_RESIDENTS) and principal.municipality_code == municipality_code
    return bool(roles & ENROLS) or own_resident


def may_record_exit(principal: Principal, participant: Participant) -> bool:
    return bool(principal.roles_in(participant.partnership_id) & ENROLS) or is_municipality_of_residence(
        principal, participant
    )


def may_claim(principal: Principal, partnership_id: UUID) -> bool:
    return bool(principal.roles_in(partnership_id) & CLAIMS)


def may_dispute(principal: Principal, claim: OutcomeClaim) -> bool:
    """Only the organisation that made the claim, as the partnership's provider."""
    return claim.claimant_organisation_id == principal.organisation_id and may_claim(
        principal, claim.partnership_id
    )


def deciding_roles(verifier_roles: Iterable[str], *, resolution: bool) -> frozenset[str]:
    """Who may decide a claim: the roles the contract's outcome names, or for a dispute the outcome payer."""
    return RESOLVES_DISPUTES if resolution else frozenset(verifier_roles)


def may_read_evidence(principal: Principal, partnership_id: UUID) -> bool:
    return bool(principal.roles_in(partnership_id) & READS_EVIDENCE)


# --- statements and partnership-wide views ----------------------------------------------------------------


def readable_bulk_imports(principal: Principal) -> Select[BulkImport]:
    """An import's progress and results are its sender's: the organisation that uploaded it."""
    return select(BulkImport).where(BulkImport.organisation_id == principal.organisation_id)


def readable_statements(principal: Principal) -> Select[PaymentStatement]:
    """The provider, investors, advisers and observers see their partnerships' statements (all but the
    provider as totals only: `may_read_statement_lines`); a payer sees its own."""
    conditions: list[Any] = []
    for partnership_id, roles in principal.memberships.items():
        if roles & SEES_ALL_STATEMENTS:
            conditions.append(PaymentStatement.partnership_id == partnership_id)
        elif roles & SEES_OWN_STATEMENTS:
            conditions.append(
                (PaymentStatement.partnership_id == partnership_id)
                & (PaymentStatement.payer_organisation_id == principal.organisation_id)
            )
    return select(PaymentStatement).where(or_(*conditions) if conditions else false())


def may_read_statement_lines(principal: Principal, statement: PaymentStatement) -> bool:
    """Whether `principal` reads the statement line by line (claim ids), not only its totals."""
    roles = principal.roles_in(statement.partnership_id)
    return bool(roles & READS_ALL_STATEMENT_LINES) or (
        bool(roles & READS_OWN_STATEMENT_LINES)
        and principal.organisation_id == statement.payer_organisation_id
    )


def may_prepare_statement(principal: Principal, partnership_id: UUID, payer_id: UUID) -> bool:
    roles = principal.roles_in(partnership_id)
    return bool(roles & PREPARES_STATEMENTS) or (
        bool(roles & SEES_OWN_STATEMENTS) and principal.organisation_id == payer_id
    )


def may_pay_statement(principal: Principal, statement: PaymentStatement) -> bool:
    return principal.organisation_id == statement.payer_organisation_id


def may_read_partnership(principal: Principal, partnership_id: UUID) -> bool:
    """Aggregates and the ledger hold no personal data: any partner, and the operator, may read them."""
    return principal.is_member(partnership_id) or principal.is_operator


# --- feed and webhook audiences ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Audience:
    """What one reader may see of one partnership's events beyond the hashed content."""

    all_pseudonyms: bool = False
    municipality_code: str | None = None  # the payer's residents' pseudonyms

    @property
    def sees_pseudonyms(self) -> bool:
        return self.all_pseudonyms or self.municipality_code is not None


def audience_for(roles: Iterable[str], municipality_code: str | None) -> Audience:
    roles = set(roles)
    if roles & SEES_ALL_PSEUDONYMS:
        return Audience(all_pseudonyms=True)
    if roles & SEES_RESIDENT_PSEUDONYMS and municipality_code:
        return Audience(municipality_code=municipality_code)
    return Audience()


def principal_audiences(principal: Principal, partnerships: Iterable[UUID]) -> dict[UUID, Audience]:
    return {p: audience_for(principal.roles_in(p), principal.municipality_code) for p in partnerships}


def audience_of(roles: Collection[str]) -> str | None:
    """The audience an organisation with these roles in a partnership receives events as (None: no role)."""
    return next((r for r in (*AUDIENCE_ORDER, *sorted(roles)) if r in roles), None)
