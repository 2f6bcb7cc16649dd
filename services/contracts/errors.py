"""The contracts service's problems (RFC 9457), each a `kit.problems.Problem` with a fixed status.

NotFound      ContractNotFound, VersionNotFound, AttachmentNotFound, NoVersionInForce, NothingPublished,
              PartnershipNotFound
Forbidden     NotAllowed (the caller's role does not permit the action), NotASignatory,
              NotASigningParty (only a party that signed may end a version), NotAnEventReader,
              NotAnOutcomePayer (disclosure is the payers' to set), ResultsUnreadable
Conflict      VersionNotEditable, InvalidTransition, AlreadySigned, OpenVersionExists,
              OverlappingActivePeriod, TerminationPending (another date awaits agreement)
Unprocessable InvalidTerms (names every offending field), PartiesNotMembers, NoticeTooShort
PreconditionFailed / PreconditionRequired: StaleVersion, IfMatchRequired
ServiceUnavailable IdentityUnavailable (the membership check could not be made), OutcomesUnavailable
PayloadTooLarge AttachmentTooLarge
"""

from __future__ import annotations

from collections.abc import Iterable

from kit.problems import (
    Conflict,
    Forbidden,
    InvalidParam,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    PreconditionRequired,
    ServiceUnavailable,
    Unprocessable,
)
from services.contracts.terms import Issue


class ContractNotFound(NotFound):
    code, title = "contract-not-found", "No such contract"


class VersionNotFound(NotFound):
    code, title = "contract-version-not-found", "No such contract version"


class AttachmentNotFound(NotFound):
    code, title = "attachment-not-found", "No such attachment"


class NoVersionInForce(NotFound):
    code, title = "no-version-in-force", "No version of the contract is in force on that date"


class NotAllowed(Forbidden):
    code, title = "not-allowed", "Your role in the partnership does not allow this"


class NotASignatory(Forbidden):
    code, title = "not-a-signatory", "Only a signatory of a party that must sign may sign"


class NotASigningParty(Forbidden):
    code, title = "not-a-signing-party", "Only a party that signed the version may end it"


class NotAnEventReader(Forbidden):
    code, title = "not-an-event-reader", "The contract change log is for the platform's services"


class MembershipsUnreadable(Forbidden):
    code, title = "memberships-unreadable", "Your token cannot read the partnership's memberships"


class VersionNotEditable(Conflict):
    code, title = "version-not-editable", "Only a draft can be edited"


class InvalidTransition(Conflict):
    code, title = "invalid-transition", "The version's status does not allow this"


class AlreadySigned(Conflict):
    code, title = "already-signed", "Your organisation has already signed this version"


class OpenVersionExists(Conflict):
    code, title = "open-version-exists", "The contract already has a draft or proposed version"


class OverlappingActivePeriod(Conflict):
    code, title = "overlapping-active-period", "Another active contract of the partnership covers that period"


class TerminationPending(Conflict):
    code, title = "termination-pending", "A termination from another date awaits the parties' agreement"


class NoticeTooShort(Unprocessable):
    code, title = "notice-too-short", "The terms require more notice for a unilateral termination"


class InvalidTerms(Unprocessable):
    """Keeps kit's `validation-failed` code: to a client, a bad terms document is bad input like any other."""

    title = "The contract terms are not valid"

    @classmethod
    def from_issues(cls, issues: Iterable[Issue], prefix: str = "body.terms") -> InvalidTerms:
        params = [InvalidParam(name=f"{prefix}.{i.path}", reason=i.reason) for i in issues]
        return cls("; ".join(f"{p.name}: {p.reason}" for p in params[:5]), invalid_params=params)


class PartiesNotMembers(Unprocessable):
    code, title = "parties-not-members", "Every party must be a member of the partnership in that role"


class StaleVersion(PreconditionFailed):
    code, title = "stale-version", "The version changed since you read it"


class IfMatchRequired(PreconditionRequired):
    code, title = "if-match-required", "Send If-Match with the ETag you read"


class IdentityUnavailable(ServiceUnavailable):
    code, title = "identity-unavailable", "The partnership's memberships could not be checked"


class AttachmentTooLarge(PayloadTooLarge):
    code, title = "attachment-too-large", "The attachment is larger than allowed"


class NotAnOutcomePayer(Forbidden):
    code, title = "not-an-outcome-payer", "Only the partnership's outcome payers may do this"


class NothingPublished(NotFound):
    code, title = "nothing-published", "The partnership has published nothing"


class ResultsUnreadable(Forbidden):
    code, title = "results-unreadable", "The outcome service refused this caller the partnership's results"


class OutcomesUnavailable(ServiceUnavailable):
    code, title = "outcomes-unavailable", "The outcome service did not answer"


class PartnershipNotFound(NotFound):
    code, title = "partnership-not-found", "No such partnership"
