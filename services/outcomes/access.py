"""Who may see and do what in the outcome service: every row rule, by membership role, in one place.

Deny by default. A caller's roles come from its token's memberships (`Principal.roles_in`); the tables
below name which roles a rule admits, and every read of participants, claims and statements starts from
a `readable_<plural>` query built here. No other module of the service names a role. The gateway's
`policy.py` hides fields per partner type on top of this; it is never the only wall.

| rows                    | whole partnership                     | only some rows                           |
|-------------------------|---------------------------------------|------------------------------------------|
| participants, claims    | provider, evaluator                   | outcome payer: its residents; a payer    |
|                         |                                       | without residents: what it pays for      |
| evidence documents      | provider, municipal payer             | (never evaluators or a payer without     |
|                         |                                       | residents)                               |
| statements' totals      | provider, investor, adviser, observer | outcome payer: its own                   |
| statements' claim lines | provider                              | outcome payer: its own                   |
| aggregates, ledger      | every partner, the operator           |                                          |
| exact aggregate counts  | provider, evaluator                   | outcome payer with residents             |
| person-level events     | provider, evaluator                   | outcome payer: its residents             |
| erasure (controller)    |                                       | outcome payer: its residents             |
| audits' totals          | provider, investor, adviser, observer | outcome payer: its own                   |
| audits' claims, findings| provider                              | outcome payer: its own (it audits)       |
| cohort payments         | every partner, the operator           |                                          |

Person-level ledger events (`participant.*`, `claim.*`) reach, on every channel (feed, stream, webhooks,
REST ledger, export, GraphQL), the audiences of the `person-level events` row in full, with their
disclosed values, salts and pseudonym; every other audience (a payer without residents too) receives a
sealed stub (ledger/disclosures.py). Partnership-level events reach every partner.

A cohort payment (terms v2 `cohort_outcomes`) is computed from a cohort's and its comparison group's
figures per person and the cohort's size: aggregates that name and describe no one, like the partnership
aggregates and `statement.summarised`. So every partner reads it with its working, investors included:
they carry the risk the cohort formula prices, and the working is how they check what it paid. The
evaluator, who measures, submits the figures; the cohort outcome's payer approves the payment, four-eyes:
never the organisation (nor the user or client) that submitted the figures, and never an evaluator, so
whoever measures never also decides what the measurement pays.

Counts follow the same line: the readers of person-level events read the aggregates' counts exactly;
everyone else (investors, advisers, observers, a payer without residents, the operator) reads them under
the small-cell rule (statements/small_cells.py), as does every reader of a statement's totals only, and
every partner reads `statement.summarised` under it.

A payer without residents (an outcome funder, a national agency: an outcome payer with no municipality
code) pays for claims, so it must be able to check them: it reads the claims that name it as a payer
(`OutcomeClaim.payer_organisation_ids`: the terms' payers for the participant at submission, the payment
lines once priced) and the participants of those claims, and decides them where the outcome names its
role as verifier. It has no resident relationship, so it gets nothing that links a record to a person: no
keyed CPR pseudonym (here, in the feed or in webhooks), no municipal reference, no free-text exit reason,
no evidence document (which names the person); it enrols, confirms and exits no one. What it does read —
the participant's random id, enrolment and exit dates, segment, cohort, municipality code, whether and by
which organisation eligibility was confirmed, and the claim's facts, dates, evidence reference and
SHA-256, price and split — is what checking a price against the terms takes.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

from sqlalchemy import Integer, Select, and_, case, false, func, literal, null, or_, select, true
from sqlalchemy.dialects.postgresql import ARRAY, array
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from kit.auth import Principal
from services.outcomes.audits.models import PaymentAudit
from services.outcomes.bulk.models import BulkImport
from services.outcomes.cohorts.models import CohortPayment
from services.outcomes.models import OutcomeClaim, Participant, PaymentStatement

OUTCOME_PAYER: Final = "outcome_payer"
PROVIDER: Final = "provider"
INVESTOR: Final = "investor"
EVALUATOR: Final = "evaluator"
ADVISER: Final = "adviser"
OBSERVER: Final = "observer"

# --- participants and claims ------------------------------------------------------------------------------

# Roles that see every participant (and claim) of their partnerships; the outcome payer sees its residents,
# or, without residents (no municipality code), the claims it pays for and their participants.
SEES_ALL_PARTICIPANTS: Final = frozenset({PROVIDER, EVALUATOR})
SEES_RESIDENTS: Final = frozenset({OUTCOME_PAYER})
SEES_WHAT_IT_PAYS: Final = frozenset({OUTCOME_PAYER})
# Who enrols: the provider, or the outcome payer for its own residents; the same two record an exit.
ENROLS: Final = frozenset({PROVIDER})
# Who claims outcomes and disputes its own claims' rejections.
CLAIMS: Final = frozenset({PROVIDER})
# Who resolves a dispute (verification itself is by the roles the contract's outcome names).
RESOLVES_DISPUTES: Final = frozenset({OUTCOME_PAYER})
# Evidence documents: never evaluators, who work on pseudonymised records; a payer only as a municipality
# (a payer without residents checks the document's reference and hash, not the document).
READS_EVIDENCE: Final = frozenset({PROVIDER})
READS_EVIDENCE_AS_MUNICIPALITY: Final = frozenset({OUTCOME_PAYER})

# Who sends a bulk import: the roles above that write some line kind (an evaluator verifies where the
# terms name it).
SENDS_BULK_IMPORTS: Final = ENROLS | CLAIMS | SEES_RESIDENTS | SEES_WHAT_IT_PAYS | frozenset({EVALUATOR})

# --- statements -------------------------------------------------------------------------------------------

SEES_ALL_STATEMENTS: Final = frozenset({PROVIDER, INVESTOR, ADVISER, OBSERVER})
SEES_OWN_STATEMENTS: Final = frozenset({OUTCOME_PAYER})
# A statement's lines name claims, and through them people: the provider's and the payer's own only. The
# other readers get its totals, by outcome, period and payer (`StatementRead.outcomes`).
READS_ALL_STATEMENT_LINES: Final = frozenset({PROVIDER})
READS_OWN_STATEMENT_LINES: Final = frozenset({OUTCOME_PAYER})
# Who prepares and issues a payer's statement: the provider, or the payer itself.
PREPARES_STATEMENTS: Final = frozenset({PROVIDER})

# --- post-payment audits ---------------------------------------------------------------------------------

# An audit is read like a statement: its totals by the statements' readers, its claims and findings (which
# name claims) by the provider and the auditing payer only. The payer audits what it paid (as the terms'
# `audits` rule names it); the provider disputes a finding.
AUDITS: Final = frozenset({OUTCOME_PAYER})
DISPUTES_FINDINGS: Final = frozenset({PROVIDER})

# --- cohort payments --------------------------------------------------------------------------------------

# Who submits a cohort's measured figures: the evaluator. Who approves the payment: the cohort outcome's
# payer, an outcome payer, unless it (or its user) submitted the figures; an evaluator never does.
SUBMITS_COHORT_FIGURES: Final = frozenset({EVALUATOR})
APPROVES_COHORT_PAYMENTS: Final = frozenset({OUTCOME_PAYER})
NEVER_APPROVES_COHORT_PAYMENTS: Final = frozenset({EVALUATOR})

# --- feed and webhook audiences ---------------------------------------------------------------------------

# Roles that receive every participant's person-level events in full (their disclosed values, salts and
# pseudonym), on every channel; the payer, only its residents'. Everyone else receives sealed stubs.
SEES_ALL_PSEUDONYMS: Final = frozenset({PROVIDER, EVALUATOR})
SEES_RESIDENT_PSEUDONYMS: Final = frozenset({OUTCOME_PAYER})
# The data controller: it erases its residents' free text, municipal reference and evidence.
ERASES_RESIDENTS: Final = frozenset({OUTCOME_PAYER})
# The most revealing role first: it decides a webhook subscription's audience.
AUDIENCE_ORDER: Final = (PROVIDER, EVALUATOR, OUTCOME_PAYER, INVESTOR, ADVISER, OBSERVER)


def pays_without_residents(principal: Principal, partnership_id: UUID) -> bool:
    """An outcome payer with no municipality code (a funder): it reads only what it pays for."""
    roles = principal.roles_in(partnership_id)
    return (
        bool(roles & SEES_WHAT_IT_PAYS)
        and not roles & SEES_ALL_PARTICIPANTS
        and not principal.municipality_code
    )


def _charged_to(principal: Principal, partnership_id: UUID) -> ColumnElement[bool]:
    return and_(
        OutcomeClaim.partnership_id == partnership_id,
        OutcomeClaim.payer_organisation_ids.contains([principal.organisation_id]),
    )


def _whole_or_residents(principal: Principal, partnership_id: UUID, roles: frozenset[str]) -> Any:
    if roles & SEES_ALL_PARTICIPANTS:
        return Participant.partnership_id == partnership_id
    if roles & SEES_RESIDENTS and principal.municipality_code:
        return and_(
            Participant.partnership_id == partnership_id,
            Participant.municipality_code == principal.municipality_code,
        )
    return None


def _participant_visibility(principal: Principal) -> Any:
    conditions = []
    for partnership_id, roles in principal.memberships.items():
        whole = _whole_or_residents(principal, partnership_id, roles)
        if whole is not None:
            conditions.append(whole)
        elif pays_without_residents(principal, partnership_id):
            paid_for = select(OutcomeClaim.participant_id).where(_charged_to(principal, partnership_id))
            conditions.append(Participant.id.in_(paid_for))
    return or_(*conditions) if conditions else false()


def _claim_visibility(principal: Principal) -> Any:
    conditions = []
    for partnership_id, roles in principal.memberships.items():
        whole = _whole_or_residents(principal, partnership_id, roles)
        if whole is not None:
            conditions.append(whole)
        elif pays_without_residents(principal, partnership_id):
            conditions.append(_charged_to(principal, partnership_id))
    return or_(*conditions) if conditions else false()


def readable_participants(principal: Principal) -> Select[Participant]:
    """The participants `principal` may see; investors, advisers, observers and operators see none."""
    return select(Participant).where(_participant_visibility(principal))


def rule_of(principal: Principal) -> Hashable:
    """What `readable_participants` reads of a principal: principals equal here are admitted alike."""
    return (principal.organisation_id, principal.municipality_code, frozenset(principal.memberships.items()))


def admitted_participants(
    asked: Sequence[tuple[Principal, Collection[UUID]]],
) -> Select[Participant, Sequence[int]]:
    """Of the participants each caller asked for, those its own rule admits (`readable_participants`'),
    each with the callers it is admitted for (their indexes in `asked`): one read serving several callers
    in a transaction whose row security admits all their partnerships (a group spanning their contexts),
    in which a row is never one caller's because another's partnership let it through."""
    admits = [and_(Participant.id.in_(ids), _participant_visibility(p)) for p, ids in asked]
    callers = func.array_remove(
        array([case((admitted, literal(n)), else_=null()) for n, admitted in enumerate(admits)]),
        null(),
        type_=ARRAY(Integer),
    )
    every = sorted({i for _, ids in asked for i in ids})
    return select(Participant, callers).where(Participant.id.in_(every), or_(*admits))


def _claims_participant(principal: Principal) -> Any:
    """A claim's own participant when the rule admits the claim: a LATERAL subquery on the claim's
    `participant_id`, kept from being pulled up into a join (OFFSET 0), so the plan always starts from the
    claims the caller selects (by primary key, or a partnership's ids) and probes each one's participant
    by its primary key; as a plain join, on tables without statistics (where row security leaves the
    planner guessing a row or two) it could walk every participant of the partnership instead."""
    visible = (
        select(Participant)
        .where(Participant.id == OutcomeClaim.participant_id, _claim_visibility(principal))
        .offset(0)
        .lateral("claims_participant")
    )
    return aliased(Participant, visible)


def readable_claims(principal: Principal) -> Select[OutcomeClaim]:
    """A claim is visible when its participant is, but to a payer without residents only when it pays."""
    return select(OutcomeClaim).join(_claims_participant(principal), true())


def readable_claims_and_participants(principal: Principal) -> Select[OutcomeClaim, Participant]:
    """`readable_claims` with each claim's participant (one read, the same rule)."""
    participant = _claims_participant(principal)
    return select(OutcomeClaim, participant).join(participant, true())


def reads_identifying_fields(principal: Principal, participant: Participant) -> bool:
    """Whether the reader sees what links a record to a person (the keyed CPR pseudonym, the free-text
    exit reason): every reader of the participant but a payer without residents."""
    return not pays_without_residents(principal, participant.partnership_id)


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
    roles = principal.roles_in(partnership_id)
    return bool(roles & READS_EVIDENCE) or (
        bool(roles & READS_EVIDENCE_AS_MUNICIPALITY) and not pays_without_residents(principal, partnership_id)
    )


def may_erase(principal: Principal, participant: Participant) -> bool:
    """The data controller for the participant: the outcome payer of its municipality."""
    return bool(principal.roles_in(participant.partnership_id) & ERASES_RESIDENTS) and (
        principal.municipality_code == participant.municipality_code
    )


def audience_table() -> dict[str, str]:
    """What each role receives of a person-level event, as the docs state it: `full`, `residents` (in
    full for its municipality's residents, sealed otherwise) or `sealed`."""

    def receives(role: str) -> str:
        if role in SEES_ALL_PSEUDONYMS:
            return "full"
        return "residents" if role in SEES_RESIDENT_PSEUDONYMS else "sealed"

    return {role: receives(role) for role in AUDIENCE_ORDER}


# --- statements and partnership-wide views ----------------------------------------------------------------


def may_send_bulk_import(principal: Principal, partnership_id: UUID) -> bool:
    """A role that may write some line kind (enrol, claim, confirm, verify, exit) sends a batch; each line
    is then checked as its single-row operation would be. Investors, advisers and observers write none."""
    return bool(principal.roles_in(partnership_id) & SENDS_BULK_IMPORTS)


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


def readable_audits(principal: Principal) -> Select[PaymentAudit]:
    """An audit is visible to whoever sees its payer's statements (`readable_statements`)."""
    conditions: list[Any] = []
    for partnership_id, roles in principal.memberships.items():
        if roles & SEES_ALL_STATEMENTS:
            conditions.append(PaymentAudit.partnership_id == partnership_id)
        elif roles & SEES_OWN_STATEMENTS:
            conditions.append(
                (PaymentAudit.partnership_id == partnership_id)
                & (PaymentAudit.payer_organisation_id == principal.organisation_id)
            )
    return select(PaymentAudit).where(or_(*conditions) if conditions else false())


def may_read_audit_claims(principal: Principal, audit: PaymentAudit) -> bool:
    """Whether `principal` reads the audit's population and findings (claim ids), not only its totals."""
    roles = principal.roles_in(audit.partnership_id)
    return bool(roles & READS_ALL_STATEMENT_LINES) or (
        bool(roles & READS_OWN_STATEMENT_LINES) and principal.organisation_id == audit.payer_organisation_id
    )


def may_audit(principal: Principal, partnership_id: UUID, payer_id: UUID) -> bool:
    """The payer itself opens, records and closes its audits."""
    return bool(principal.roles_in(partnership_id) & AUDITS) and principal.organisation_id == payer_id


def may_dispute_finding(principal: Principal, partnership_id: UUID) -> bool:
    return bool(principal.roles_in(partnership_id) & DISPUTES_FINDINGS)


def readable_cohort_payments(principal: Principal) -> Select[CohortPayment]:
    """Every partner's partnerships' cohort payments, with their working (aggregates); the operator's all."""
    if principal.is_operator:
        return select(CohortPayment)
    return select(CohortPayment).where(CohortPayment.partnership_id.in_(list(principal.memberships)))


def may_submit_cohort_figures(principal: Principal, partnership_id: UUID) -> bool:
    return bool(principal.roles_in(partnership_id) & SUBMITS_COHORT_FIGURES)


def cohort_approval_refusal(principal: Principal, payment: CohortPayment) -> str | None:
    """Why `principal` may not decide the cohort payment (None: it may): four-eyes against the submitter."""
    roles = principal.roles_in(payment.partnership_id)
    if roles & NEVER_APPROVES_COHORT_PAYMENTS:
        return "an evaluator measures cohort figures and never approves what they pay"
    if not roles & APPROVES_COHORT_PAYMENTS or principal.organisation_id != payment.payer_organisation_id:
        return "only the cohort outcome's payer approves its payment"
    if payment.submitted_by_organisation_id == principal.organisation_id or (
        payment.submitted_by == principal.subject
    ):
        return "the organisation that submitted the figures may not approve their payment"
    return None


def reads_exact_counts(principal: Principal, partnership_id: UUID) -> bool:
    """Whether the reader gets the aggregates' counts exactly: the audiences of person-level events in
    full (provider, evaluator, a payer of its residents); the rest get them under the small-cell rule."""
    return audience_for(principal.roles_in(partnership_id), principal.municipality_code).sees_pseudonyms


def may_read_partnership(principal: Principal, partnership_id: UUID) -> bool:
    """Any partner, and the operator, may read the aggregates and the ledger: its person-level events
    reach each reader shaped by `audience_for` (sealed where it may not see the participant)."""
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

    def sees(self, municipality_code: str) -> bool:
        """Whether a participant of this municipality's person-level events reach this reader in full."""
        return self.all_pseudonyms or (
            self.municipality_code is not None and self.municipality_code == municipality_code
        )


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
