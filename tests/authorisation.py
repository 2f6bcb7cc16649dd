"""Who may call each REST operation: the one table `tests/test_authorisation_matrix.py` checks every
service against, written from each service's access rules (`services/*/access.py`, the identity routes'
dependencies) and docs/identity.md, docs/outcomes.md.

Keys are `"service METHOD /path"` as each OpenAPI document names them; every documented operation must
appear here exactly once, so a new route fails the matrix until someone decides who may call it.

Caller kinds: `anonymous` (no token), `expired`, `revoked`, `outsider` (a signatory of an organisation in
no partnership of the cast), then one member per membership role of the shared partnership (`payer`,
`provider`, `investor`, `evaluator`, `adviser`, `observer`; signatories, except the evaluator, adviser and
observer, who are plain members), `funder` (a signatory of an outcome fund, outcome payer of the partnership
without residents, paying for none of the scene's claims), `provider_member` (a plain member of the
provider) and `operator` (an admin of the platform operator's organisation).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NO_STANDING = ("anonymous", "expired", "revoked")
MEMBER_KINDS = (
    "payer",
    "funder",
    "provider",
    "provider_member",
    "investor",
    "evaluator",
    "adviser",
    "observer",
    "operator",
)
CALLER_KINDS = (*NO_STANDING, "outsider", *MEMBER_KINDS)


@dataclass(frozen=True)
class Expectation:
    """Who gets past authorisation, and what a refusal looks like.

    `allowed`: the caller kinds answered with anything but 401/403/404 (a 409 for the scene's state, a 412
    for a stale `If-Match`, a 415: only the authorisation is under test). `public`: no token needed
    (`client_auth`: the OAuth2 endpoints that authenticate the client instead, so a bearer token alone
    always gets a 4xx). `own_rows`: every valid token is answered 2xx, with the caller's own rows: a caller
    not allowed must not find the scene's `hidden` id in it. `may_miss`: a status an allowed caller may get
    because the scene holds no such row. `refused`: what a refused caller gets. `spare_allowed`: the
    allowed callers are not sent (the operation would change the whole platform under the other tests)."""

    allowed: frozenset[str] = frozenset()
    public: bool = False
    client_auth: bool = False
    own_rows: bool = False
    hidden: str = "partnership_id"
    may_miss: frozenset[int] = frozenset()
    refused: frozenset[int] = frozenset({403, 404})
    spare_allowed: bool = False


def allow(
    *kinds: str,
    own_rows: bool = False,
    hidden: str = "partnership_id",
    may_miss: tuple[int, ...] = (),
    refused: tuple[int, ...] = (403, 404),
) -> Expectation:
    unknown_kinds = set(kinds) - set(MEMBER_KINDS) - {"outsider"}
    assert not unknown_kinds, unknown_kinds
    return Expectation(
        frozenset(kinds),
        own_rows=own_rows,
        hidden=hidden,
        may_miss=frozenset(may_miss),
        refused=frozenset(refused),
    )


PUBLIC = Expectation(public=True)
CLIENT_AUTH = Expectation(public=True, client_auth=True)
ANY_TOKEN = allow("outsider", *MEMBER_KINDS)
MEMBERS = ("payer", "funder", "provider", "provider_member", "investor", "evaluator", "adviser", "observer")
PROVIDER = ("provider", "provider_member")
# Who sees people (participants, claims): their provider, the evaluator and the municipality of residence.
# (An outcome funder sees the claims it pays for and their participants: none of the scene's.)
SEES_PEOPLE = ("payer", *PROVIDER, "evaluator")
# Who drafts and edits contracts: payers, providers and the adviser (tests/contracts/test_permissions.py).
EDITORS = ("payer", "funder", *PROVIDER, "adviser")
OPERATOR = allow("operator")
# Who reads a statement's totals but not its lines.
STATEMENT_TOTALS = ("investor", "adviser", "observer")

TABLE: dict[str, Expectation] = {
    "identity GET /healthz": PUBLIC,
    "identity GET /readyz": PUBLIC,
    "identity POST /oauth2/token": CLIENT_AUTH,
    "identity POST /oauth2/introspect": CLIENT_AUTH,
    "identity POST /oauth2/revoke": CLIENT_AUTH,
    # The sign-in page and form: public, refused without the page's own parameters and CSRF cookie.
    "identity GET /oauth2/authorize": CLIENT_AUTH,
    "identity POST /oauth2/authorize": CLIENT_AUTH,
    "identity GET /oauth2/userinfo": ANY_TOKEN,
    "identity POST /oauth2/userinfo": ANY_TOKEN,
    "identity GET /.well-known/oauth-authorization-server": PUBLIC,
    "identity GET /.well-known/openid-configuration": PUBLIC,
    "identity GET /jwks.json": PUBLIC,
    # Which origins may call from a browser: public, like discovery (origins only, no client ids).
    "identity GET /v1/cors-origins": PUBLIC,
    # RP-initiated logout names the sign-in by its `id_token_hint`: a bearer token alone ends nothing (4xx).
    "identity GET /oauth2/logout": CLIENT_AUTH,
    "identity POST /oauth2/logout": CLIENT_AUTH,
    "identity GET /v1/organisations": allow(*MEMBERS, "operator", own_rows=True, hidden="organisation_id"),
    "identity POST /v1/organisations": allow("operator"),
    # Partners in a partnership see one another's organisation.
    "identity GET /v1/organisations/{organisation_id}": allow(*MEMBERS, "operator"),
    "identity PATCH /v1/organisations/{organisation_id}": allow("operator"),
    "identity GET /v1/organisations/{organisation_id}/users": allow(
        *PROVIDER, "operator", own_rows=True, hidden="user_id"
    ),
    "identity POST /v1/organisations/{organisation_id}/users": allow("operator"),
    "identity GET /v1/users": allow(*PROVIDER, "operator", own_rows=True, hidden="user_id"),
    "identity GET /v1/users/{user_id}": allow(*PROVIDER, "operator"),
    "identity PATCH /v1/users/{user_id}": allow("operator"),
    "identity DELETE /v1/users/{user_id}": allow("operator"),
    "identity PUT /v1/users/{user_id}/password": allow("operator"),
    "identity GET /v1/audit-events": allow("operator", own_rows=True),
    "identity GET /v1/partnerships": allow(*MEMBERS, "operator", own_rows=True),
    "identity POST /v1/partnerships": allow("operator"),
    "identity GET /v1/partnerships/{partnership_id}": allow(*MEMBERS, "operator"),
    "identity PATCH /v1/partnerships/{partnership_id}": allow("operator"),
    "identity GET /v1/partnerships/{partnership_id}/memberships": allow(
        *MEMBERS, "operator", own_rows=True, hidden="membership_id"
    ),
    "identity POST /v1/partnerships/{partnership_id}/memberships": allow("operator"),
    "identity GET /v1/memberships": allow(*MEMBERS, "operator", own_rows=True, hidden="membership_id"),
    "identity DELETE /v1/partnerships/{partnership_id}/memberships/{membership_id}": allow("operator"),
    "identity GET /v1/partnerships/{partnership_id}/membership-grants": allow(*MEMBERS, "operator"),
    # Outcome payers (municipalities and funders) propose members; identity decides each case.
    "identity POST /v1/partnerships/{partnership_id}/membership-grants": allow("payer", "funder", "operator"),
    # The scene holds no grant: every caller's answer is 404 (still never 2xx, never past 401).
    "identity GET /v1/partnerships/{partnership_id}/membership-grants/{grant_id}": allow(
        *MEMBERS, "operator", may_miss=(404,)
    ),
    "identity DELETE /v1/partnerships/{partnership_id}/membership-grants/{grant_id}": allow(
        "payer", "funder", "operator", may_miss=(404,)
    ),
    "identity POST /v1/partnerships/{partnership_id}/membership-grants/{grant_id}/consents": allow(
        "payer", "funder", "operator", may_miss=(404,)
    ),
    "identity GET /v1/organisations/{organisation_id}/clients": allow(
        *PROVIDER, "operator", own_rows=True, hidden="client_id"
    ),
    "identity POST /v1/organisations/{organisation_id}/clients": allow("operator"),
    "identity GET /v1/clients/{client_id}": allow(*PROVIDER, "operator"),
    "identity DELETE /v1/clients/{client_id}": allow("operator"),
    "identity GET /v1/signing-keys": OPERATOR,
    # A rotation would have the services refuse the next tokens until their key refresh comes round, under
    # every other test of the session: only refusals are sent (tests/identity/test_tokens.py rotates).
    "identity POST /v1/signing-keys/rotations": Expectation(frozenset({"operator"}), spare_allowed=True),
    # The scene names no key (retiring the real one would end every token of the run): 404 at best.
    "identity POST /v1/signing-keys/{kid}/retirement": allow("operator", may_miss=(404,)),
    # Only the services' own revocation-reader clients (scope `tokens:revocations`), none in the cast.
    "identity GET /v1/token-revocations": allow(),
    "contracts GET /healthz": PUBLIC,
    "contracts GET /readyz": PUBLIC,
    # Checking a terms document stores nothing and reads no partnership: any partner may ask.
    "contracts POST /v1/terms-validations": allow("outsider", *MEMBERS, "operator"),
    "contracts GET /v1/contracts": allow(*MEMBERS, "operator", own_rows=True),
    "contracts POST /v1/contracts": allow(*EDITORS),
    "contracts GET /v1/contracts/{contract_id}": allow(*MEMBERS, "operator"),
    "contracts GET /v1/contracts/{contract_id}/versions": allow(*MEMBERS, "operator"),
    "contracts GET /v1/contracts/{contract_id}/versions/in-force": allow(*MEMBERS, "operator"),
    "contracts POST /v1/contracts/{contract_id}/amendments": allow(*EDITORS),
    "contracts GET /v1/contract-versions": allow(*MEMBERS, "operator", own_rows=True, hidden="version_id"),
    "contracts GET /v1/contract-versions/{version_id}": allow(*MEMBERS, "operator"),
    "contracts GET /v1/contract-versions/{version_id}/terms": allow(*MEMBERS, "operator"),
    "contracts PUT /v1/contract-versions/{version_id}/terms": allow(*EDITORS),
    "contracts POST /v1/contract-versions/{version_id}/withdrawal": allow(*EDITORS),
    # Ending a contract, like signing it, takes a signatory of a party that must sign (or the investor); a
    # funder's signatory, as an outcome payer's, gets past authorisation (the scene's draft then answers 409).
    "contracts POST /v1/contract-versions/{version_id}/termination": allow(
        "payer", "funder", "provider", "investor"
    ),
    "contracts POST /v1/contract-versions/{version_id}/expiry": allow(*EDITORS),
    "contracts GET /v1/contract-versions/{version_id}/diff": allow(*MEMBERS, "operator"),
    # The registry's change log, read by the outcome service (an operator's client).
    "contracts GET /v1/contract-events": OPERATOR,
    # A logged version's frozen terms, for the same readers (the outcome service re-prices at activation).
    # The scene's version is a draft, which the log does not name: 404 for the operator too.
    "contracts GET /v1/contract-events/versions/{version_id}": allow("operator", may_miss=(404,)),
    "contracts POST /v1/contract-versions/{version_id}/proposal": allow(*EDITORS),
    # Signatories of the parties that must sign: the payers, the provider and the investor.
    "contracts POST /v1/contract-versions/{version_id}/signatures": allow(
        "payer", "funder", "provider", "investor"
    ),
    "contracts POST /v1/contract-versions/{version_id}/attachments": allow(*EDITORS),
    "contracts GET /v1/contract-attachments/{attachment_id}": allow(*MEMBERS, "operator"),
    "contracts GET /v1/contract-attachments/{attachment_id}/content": allow(*MEMBERS, "operator"),
    # Open data (services/contracts/disclosure/access.py): every member and the operator read the statuses,
    # their audit and the exports; the outcome payers change them and publish; anyone reads what was
    # published (the scene publishes once; its contract governed).
    "contracts GET /v1/partnerships/{partnership_id}/disclosure": allow(*MEMBERS, "operator"),
    "contracts PATCH /v1/partnerships/{partnership_id}/disclosure": allow("payer", "funder"),
    "contracts GET /v1/partnerships/{partnership_id}/disclosure-changes": allow(*MEMBERS, "operator"),
    "contracts GET /v1/partnerships/{partnership_id}/indigo": allow(*MEMBERS, "operator"),
    "contracts GET /v1/contracts/{contract_id}/ocds-record": allow(*MEMBERS, "operator"),
    "contracts POST /v1/partnerships/{partnership_id}/publications": allow("payer", "funder"),
    "contracts GET /v1/public/partnerships/{partnership_id}/indigo": PUBLIC,
    "contracts GET /v1/public/contracts/{contract_id}/ocds-record": PUBLIC,
    "outcomes GET /healthz": PUBLIC,
    "outcomes GET /readyz": PUBLIC,
    "outcomes GET /v1/participants": allow(*SEES_PEOPLE, own_rows=True, hidden="participant_id"),
    # The provider enrols; a municipality may enrol and exit its own residents (the scene's are Herning's).
    "outcomes POST /v1/participants": allow("payer", *PROVIDER),
    "outcomes GET /v1/participants/{participant_id}": allow(*SEES_PEOPLE),
    "outcomes POST /v1/participants/{participant_id}/eligibility-confirmation": allow("payer"),
    "outcomes POST /v1/participants/{participant_id}/exit": allow("payer", *PROVIDER),
    "outcomes GET /v1/outcome-claims": allow(*SEES_PEOPLE, own_rows=True, hidden="claim_id"),
    "outcomes POST /v1/outcome-claims": allow(*PROVIDER),
    "outcomes GET /v1/outcome-claims/{claim_id}": allow(*SEES_PEOPLE),
    # The scene's claim has an evidence reference but no document: 404 for those who may read it.
    "outcomes GET /v1/outcome-claims/{claim_id}/evidence-document": allow(
        "payer", *PROVIDER, may_miss=(404,)
    ),
    "outcomes POST /v1/outcome-claims/{claim_id}/verification": allow("payer", "evaluator"),
    "outcomes POST /v1/outcome-claims/{claim_id}/dispute": allow(*PROVIDER),
    "outcomes POST /v1/outcome-claims/{claim_id}/dispute-resolution": allow("payer"),
    # The data controller alone: the outcome payer of the participant's municipality (the scene's payer).
    "outcomes POST /v1/erasures": allow("payer"),
    # The period is checked against a contract the caller can read first: an outsider reads none, so it
    # is told no version is in force (422), the same as for a contract that does not exist.
    "outcomes POST /v1/payment-statements": allow("payer", *PROVIDER, refused=(403, 404, 422)),
    # Investors, advisers and observers read statements as totals by outcome: no lines, no claim ids
    # (tests/outcomes/test_statement_audiences.py).
    "outcomes GET /v1/payment-statements": allow(
        "payer", *PROVIDER, *STATEMENT_TOTALS, own_rows=True, hidden="statement_id"
    ),
    "outcomes GET /v1/payment-statements/{statement_id}": allow("payer", *PROVIDER, *STATEMENT_TOTALS),
    "outcomes POST /v1/payment-statements/{statement_id}/issue": allow("payer", *PROVIDER),
    "outcomes POST /v1/payment-statements/{statement_id}/payment": allow("payer"),
    # Post-payment audits: the payer audits what it paid (its terms' rule; the scene's terms give none, so
    # the payer is told so, 422); the statements' readers read an audit (its claims: provider and payer).
    # The scene holds no audit: by id, every caller meets 404 at best (tests/outcomes/test_audits.py walks
    # each role through a real one).
    "outcomes POST /v1/payment-audits": allow("payer", refused=(403, 404, 422)),
    "outcomes GET /v1/payment-audits": allow(
        "payer", *PROVIDER, *STATEMENT_TOTALS, own_rows=True, hidden="audit_id"
    ),
    "outcomes GET /v1/payment-audits/{audit_id}": allow(
        "payer", *PROVIDER, *STATEMENT_TOTALS, may_miss=(404,)
    ),
    "outcomes POST /v1/payment-audits/{audit_id}/findings": allow("payer", may_miss=(404,)),
    "outcomes POST /v1/payment-audits/{audit_id}/disputes": allow(*PROVIDER, may_miss=(404,)),
    "outcomes POST /v1/payment-audits/{audit_id}/closure": allow("payer", may_miss=(404,)),
    # Cohort payments (services/outcomes/access.py): the evaluator submits figures (the scene's contract
    # declares no cohort outcome, so the evaluator is told 422 after its rights are checked); every partner
    # and the operator read them with their working (aggregates); the payer decides, never the evaluator.
    # The scene holds no cohort payment: by id, 404 for those who may read or decide it.
    "outcomes POST /v1/cohort-payments": allow("evaluator", refused=(403, 404, 422)),
    "outcomes GET /v1/cohort-payments": allow(*MEMBERS, "operator", own_rows=True),
    "outcomes GET /v1/cohort-payments/{cohort_payment_id}": allow(*MEMBERS, "operator", may_miss=(404,)),
    "outcomes POST /v1/cohort-payments/{cohort_payment_id}/decision": allow(
        "payer", "funder", may_miss=(404,)
    ),
    "outcomes GET /v1/partnerships/{partnership_id}/outcome-aggregates": allow(*MEMBERS, "operator"),
    "outcomes GET /v1/partnerships/{partnership_id}/outcome-aggregates/export": allow(*MEMBERS, "operator"),
    "outcomes GET /v1/payment-statements/{statement_id}/export": allow("payer", *PROVIDER, *STATEMENT_TOTALS),
    "outcomes GET /v1/partnerships/{partnership_id}/ledger": allow(*MEMBERS, "operator"),
    "outcomes GET /v1/partnerships/{partnership_id}/ledger/verification": allow(*MEMBERS, "operator"),
    "outcomes GET /v1/partnerships/{partnership_id}/ledger/export": allow(*MEMBERS, "operator"),
    "outcomes GET /v1/feed": allow(*MEMBERS, "operator", own_rows=True),
    # An event stream's body never ends: only its status is read, so an outsider's 200 is not inspected.
    "outcomes GET /v1/feed/stream": allow(*MEMBERS, "operator", own_rows=True),
    # The scene's subscription is the provider's; an organisation sees and manages only its own.
    "outcomes GET /v1/webhook-subscriptions": allow(*PROVIDER, own_rows=True, hidden="subscription_id"),
    "outcomes POST /v1/webhook-subscriptions": allow(*MEMBERS),
    "outcomes GET /v1/webhook-subscriptions/{subscription_id}": allow(*PROVIDER),
    "outcomes PATCH /v1/webhook-subscriptions/{subscription_id}": allow(*PROVIDER),
    # Deletions run one after another: the first of the two allowed callers removes it, the second finds
    # nothing left.
    "outcomes DELETE /v1/webhook-subscriptions/{subscription_id}": allow(*PROVIDER, may_miss=(404,)),
    "outcomes POST /v1/webhook-subscriptions/{subscription_id}/secret-rotation": allow(*PROVIDER),
    "outcomes GET /v1/webhook-subscriptions/{subscription_id}/deliveries": allow(*PROVIDER),
    # The scene holds no delivery: 404 for the subscription's owner too.
    "outcomes POST /v1/webhook-subscriptions/{subscription_id}/deliveries/{delivery_id}/redelivery": allow(
        *PROVIDER, may_miss=(404,)
    ),
    # A partner whose role writes some line kind sends a batch; each line is then checked as its single-row
    # operation would be. Investors, advisers and observers write none.
    "outcomes POST /v1/partnerships/{partnership_id}/bulk-imports": allow(
        "payer", "funder", *PROVIDER, "evaluator"
    ),
    # An import's progress and results are its sender's alone; the scene sends none, so even a member is
    # told 404 by id, and a list holds only the caller's own.
    "outcomes GET /v1/partnerships/{partnership_id}/bulk-imports": allow(*MEMBERS, own_rows=True),
    "outcomes GET /v1/bulk-imports/{import_id}": allow(*MEMBERS, may_miss=(404,)),
    "outcomes GET /v1/bulk-imports/{import_id}/results": allow(*MEMBERS, may_miss=(404,)),
}


def expectation_for(key: str) -> Expectation:
    return TABLE[key]


def uncovered(operations: Mapping[str, Any], without: set[str] | frozenset[str] = frozenset()) -> set[str]:
    """Documented operations the table (less `without`) does not mention."""
    return {key for key in operations if key not in TABLE or key in without}


def unknown(operations: Mapping[str, Any]) -> set[str]:
    """Table entries no service documents (a renamed or removed route)."""
    return set(TABLE) - set(operations)


# --- GraphQL: which partner types' schema variants hold each root field (gateway/policy.py decides; this
# states it a second time, so a policy change or a new field is a deliberate edit here too). -----------------

ALL_TYPES = ("municipality", "provider", "investor", "evaluator", "legal_adviser", "operator")
PERSON_LEVEL = ("municipality", "provider", "evaluator")
DELIVERY = ("municipality", "provider")
CONTRACTING = ("municipality", "provider", "investor", "legal_adviser")
ADMINISTRATION = ("municipality", "operator")
WEBHOOKS = ("municipality", "provider", "investor", "evaluator", "legal_adviser")

GRAPHQL: dict[str, tuple[str, ...]] = {
    "Query.me": ALL_TYPES,
    "Query.partnerships": ALL_TYPES,
    "Query.partnership": ALL_TYPES,
    "Query.organisation": ALL_TYPES,
    "Query.participant": PERSON_LEVEL,
    # Any object by global id: null where the typed field would be (tests/test_graphql_matrix.py).
    "Query.node": ALL_TYPES,
    "Query.nodes": ALL_TYPES,
    "Mutation.createPartnership": ("operator",),
    "Mutation.updatePartnership": ("operator",),
    "Mutation.addMember": ADMINISTRATION,
    "Mutation.removeMember": ALL_TYPES,
    "Mutation.proposeMember": ADMINISTRATION,
    "Mutation.consentToMember": ADMINISTRATION,
    "Mutation.declineMember": ADMINISTRATION,
    "Mutation.createContract": CONTRACTING,
    "Mutation.updateContractDraft": CONTRACTING,
    "Mutation.proposeContractVersion": CONTRACTING,
    "Mutation.withdrawContractVersion": CONTRACTING,
    "Mutation.signContractVersion": CONTRACTING,
    "Mutation.amendContract": CONTRACTING,
    "Mutation.terminateContractVersion": CONTRACTING,
    "Mutation.enrolParticipant": DELIVERY,
    "Mutation.confirmEligibility": ("municipality",),
    "Mutation.exitParticipant": DELIVERY,
    "Mutation.submitClaim": DELIVERY,
    "Mutation.verifyClaim": ("municipality", "evaluator"),
    "Mutation.disputeClaim": DELIVERY,
    "Mutation.resolveDispute": ("municipality",),
    "Mutation.generateStatement": DELIVERY,
    "Mutation.issueStatement": DELIVERY,
    "Mutation.markStatementPaid": ("municipality",),
    # Open data: what the partnership publishes is the outcome payers' decision (docs/open-data.md).
    "Mutation.changeDisclosure": ("municipality",),
    "Mutation.publishOpenData": ("municipality",),
    "Mutation.createWebhookSubscription": WEBHOOKS,
    "Mutation.updateWebhookSubscription": WEBHOOKS,
    "Mutation.redeliverWebhook": WEBHOOKS,
    "Mutation.rotateWebhookSecret": WEBHOOKS,
    "Mutation.deleteWebhookSubscription": WEBHOOKS,
    "Subscription.ledgerEvents": ALL_TYPES,
}

# An outcome funder pays for outcomes like a municipality but has no residents: it holds the municipality's
# fields except those that act on residents or prepare statements (gateway/policy.py, docs/gateway.md).
RESIDENTS_ONLY = frozenset(
    {
        "Mutation.confirmEligibility",
        "Mutation.disputeClaim",
        "Mutation.enrolParticipant",
        "Mutation.exitParticipant",
        "Mutation.generateStatement",
        "Mutation.issueStatement",
        "Mutation.submitClaim",
    }
)
GRAPHQL = {
    field: (*types, "outcome_funder") if "municipality" in types and field not in RESIDENTS_ONLY else types
    for field, types in GRAPHQL.items()
}


def graphql_uncovered(fields: set[str], without: set[str] | frozenset[str] = frozenset()) -> set[str]:
    """Root fields of the full schema the GraphQL table (less `without`) does not mention."""
    return {name for name in fields if name not in GRAPHQL or name in without}
