"""Who sees what: the one declarative source for the gateway's field visibility and for the authz tests.

Two levels, both deny-by-default for the listed names:
- **Schema variant by partner type.** A type or field listed here exists only in the schema of the partner
  types named; others do not see it at all, not even by introspection. Unlisted types and fields are
  visible to every partner type.
- **Rows by membership role.** Within a partnership, which membership roles may list which records. The
  services enforce the same rule on their side; the gateway is never the only wall.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from kit import partners

# One schema variant per partner type of the token contract.
PARTNER_TYPES: Final = partners.PARTNER_TYPES
EVERYONE: Final = frozenset(PARTNER_TYPES)

# Who pays for outcomes: municipalities, and national agencies or outcome funds. A funder has the payer's
# view of a municipality minus what comes of having residents: it enrols no one, confirms no one's
# eligibility, reads no municipal reference (`RESIDENTS`).
PAYERS: Final = frozenset({"municipality", "outcome_funder"})
RESIDENTS: Final = frozenset({"municipality"})
# Individual-level data: never investors, advisers, observers' partner types or operators. (A funder
# sees only the rows the outcome service gives it: the claims it pays for and their participants.)
PERSON_LEVEL: Final = PAYERS | {"provider", "evaluator"}
# What links a record to a person (the keyed CPR pseudonym, free text): not for a payer without residents,
# which has no resident relationship (the outcome service blanks them for it too; its access.py).
IDENTIFYING: Final = PERSON_LEVEL - {"outcome_funder"}
# Who runs the programme day to day: enrols, claims, exits, disputes, prepares statements.
DELIVERY: Final = RESIDENTS | {"provider"}
# Who reads a claim's evidence (its reference, hash and media type): who delivers, and every payer, which
# verifies what it pays for. (The document itself the outcome service gives a municipality, not a funder.)
EVIDENCE: Final = DELIVERY | PAYERS
# Who negotiates and signs contracts (evaluators and the operator only read them).
CONTRACTING: Final = PAYERS | {"provider", "investor", "legal_adviser"}
# Who adds partnership members and decides proposed ones: the operator, and outcome payers
# (municipalities and funders). Identity decides each case: no organisation grants itself a role, and a
# role reaching person-level data needs the operator or every outcome payer's consent
# (services/identity/partnerships/access.py).
ADMINISTRATION: Final = PAYERS | {"operator"}
# Who manages its organisation's webhook subscriptions: every partner type that can be a partnership
# member (the outcome service requires a membership, and redacts each delivery for the subscriber's role).
# Not operators: they belong to no partnership, so they have nothing to subscribe to, and a delivery log
# names events of partnerships they administer but whose participant data they must not see.
WEBHOOKS: Final = PAYERS | {"provider", "investor", "evaluator", "legal_adviser"}

# Who reads a statement line by line (claim ids): the provider and the payers. Investors, advisers and
# observers get its totals by outcome (`Statement.outcomes`).
STATEMENT_LINES: Final = PAYERS | {"provider"}

TYPES: Final[dict[str, frozenset[str]]] = {
    "Participant": PERSON_LEVEL,
    "ParticipantConnection": PERSON_LEVEL,
    "ParticipantEdge": PERSON_LEVEL,
    "Claim": PERSON_LEVEL,
    "ClaimConnection": PERSON_LEVEL,
    "ClaimEdge": PERSON_LEVEL,
    "Evidence": EVIDENCE,
    "EnrolParticipantInput": DELIVERY,
    "SubmitClaimInput": DELIVERY,
    # A statement's lines name claims: the provider's and the payers' (the service gives a payer its own).
    "StatementLine": STATEMENT_LINES,
    "WebhookSubscription": WEBHOOKS,
    "WebhookSubscriptionConnection": WEBHOOKS,
    "WebhookSubscriptionEdge": WEBHOOKS,
    "WebhookDelivery": WEBHOOKS,
    "WebhookDeliveryConnection": WEBHOOKS,
    "WebhookDeliveryEdge": WEBHOOKS,
    "CreatedWebhookSubscription": WEBHOOKS,
    "RotatedWebhookSecret": WEBHOOKS,
    "CreateWebhookSubscriptionInput": WEBHOOKS,
    "UpdateWebhookSubscriptionInput": WEBHOOKS,
    "DisclosureBlockInput": PAYERS,
    "Publication": PAYERS,
}

FIELDS: Final[dict[str, frozenset[str]]] = {
    # Only the municipality of residence reads its own reference number (the service blanks it for
    # other municipalities too).
    "Participant.municipalReference": RESIDENTS,
    # Evaluators work on pseudonymised records: no evidence documents.
    "Claim.evidence": EVIDENCE,
    # What a claim reports and a participant's segment are person-level (their types already are; named
    # here so that a move to a wider type keeps them hidden).
    "Claim.facts": PERSON_LEVEL,
    "Participant.segment": PERSON_LEVEL,
    "Participant.pseudonym": IDENTIFYING,
    "Participant.exitReason": IDENTIFYING,
    "Statement.lines": STATEMENT_LINES,
    "Partnership.participants": PERSON_LEVEL,
    "Partnership.claims": PERSON_LEVEL,
    "Query.participant": PERSON_LEVEL,
    # A ledger event's subject, data and canonical bytes can name a participant.
    "LedgerEvent.participantId": PERSON_LEVEL,
    "LedgerEvent.subject": PERSON_LEVEL,
    "LedgerEvent.data": PERSON_LEVEL,
    "LedgerEvent.canonical": PERSON_LEVEL,
    # Writes, by who performs them (the services decide each case; this keeps the others' schemas small).
    "Mutation.createPartnership": frozenset({"operator"}),
    "Mutation.updatePartnership": frozenset({"operator"}),
    "Mutation.addMember": ADMINISTRATION,
    "Mutation.proposeMember": ADMINISTRATION,
    "Mutation.consentToMember": ADMINISTRATION,
    "Mutation.declineMember": ADMINISTRATION,
    # The operator removes any membership; any member may leave (identity: except as outcome payer).
    "Mutation.removeMember": EVERYONE,
    "Mutation.createContract": CONTRACTING,
    "Mutation.updateContractDraft": CONTRACTING,
    "Mutation.proposeContractVersion": CONTRACTING,
    "Mutation.withdrawContractVersion": CONTRACTING,
    "Mutation.signContractVersion": CONTRACTING,
    "Mutation.amendContract": CONTRACTING,
    "Mutation.terminateContractVersion": CONTRACTING,
    "Mutation.enrolParticipant": DELIVERY,
    "Mutation.confirmEligibility": RESIDENTS,
    "Mutation.exitParticipant": DELIVERY,
    "Mutation.submitClaim": DELIVERY,
    "Mutation.verifyClaim": PAYERS | {"evaluator"},
    "Mutation.disputeClaim": DELIVERY,
    "Mutation.resolveDispute": PAYERS,
    "Mutation.generateStatement": DELIVERY,
    "Mutation.issueStatement": DELIVERY,
    "Mutation.markStatementPaid": PAYERS,
    # Open data: the outcome payers decide what the partnership publishes (docs/open-data.md).
    "Mutation.changeDisclosure": PAYERS,
    "Mutation.publishOpenData": PAYERS,
    "Me.webhookSubscriptions": WEBHOOKS,
    "Mutation.createWebhookSubscription": WEBHOOKS,
    "Mutation.updateWebhookSubscription": WEBHOOKS,
    "Mutation.redeliverWebhook": WEBHOOKS,
    "Mutation.rotateWebhookSecret": WEBHOOKS,
    "Mutation.deleteWebhookSubscription": WEBHOOKS,
}

# Membership roles that may list person-level rows in a partnership.
ROWS: Final[dict[str, frozenset[str]]] = {
    "Participant": frozenset({"outcome_payer", "provider", "evaluator"}),
    "Claim": frozenset({"outcome_payer", "provider", "evaluator"}),
}


def type_visible(partner_type: str, type_name: str) -> bool:
    return partner_type in TYPES.get(type_name, EVERYONE)


def field_visible(partner_type: str, type_name: str, field_name: str, returns: Iterable[str] = ()) -> bool:
    """A field is visible when listed for the partner type (or unlisted) and every object type it may
    return is visible too."""
    if partner_type not in FIELDS.get(f"{type_name}.{field_name}", EVERYONE):
        return False
    return all(type_visible(partner_type, name) for name in returns)


def rows_visible(roles: frozenset[str], type_name: str) -> bool:
    return bool(roles & ROWS.get(type_name, frozenset()))
