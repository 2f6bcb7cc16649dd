"""The outcome service's problems.

NotFound (404): ParticipantNotFound, ClaimNotFound, StatementNotFound, BulkImportNotFound,
                LedgerValueNotFound
Forbidden (403): NotAPartner, NotAllowedToVerify, OwnClaimVerification
Conflict (409): DuplicateParticipant, InvalidClaimTransition, ParticipantAlreadyExited,
                StatementNotDraft, StatementNotIssued, AlreadyErased
PreconditionFailed (412): VersionMismatch (kit.versions, shared by the services)
Unprocessable (422): InvalidCpr, NoVersionInForce, ContractMismatch, UnknownOutcome,
                ParticipantNotEligible, ParticipantExited, AchievementDateInFuture,
                AchievementBeforeEnrolment, OutsideOutcomeWindow, PrerequisiteNotVerified,
                PerParticipantMaximum, EvidenceMissing, ContractFull, MunicipalityNotPaying,
                CriteriaNotMet, SegmentMissing, StartEnded, CurrencyNotSupported, NotErasable
ServiceUnavailable (503): ContractsUnavailable
"""

from kit.problems import (
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    Unprocessable,
)


class ParticipantNotFound(NotFound):
    code, title = "participant-not-found", "No such participant (or not visible to you)"


class ClaimNotFound(NotFound):
    code, title = "claim-not-found", "No such outcome claim (or not visible to you)"


class StatementNotFound(NotFound):
    code, title = "statement-not-found", "No such payment statement (or not visible to you)"


class BulkImportNotFound(NotFound):
    code, title = "bulk-import-not-found", "No such bulk import (or not one your organisation sent)"


class NotAPartner(Forbidden):
    code, title = "not-a-partner", "Your organisation has no role here that allows this"


class NotAllowedToVerify(Forbidden):
    code, title = "not-allowed-to-verify", "The contract does not let your role verify this outcome"


class OwnClaimVerification(Forbidden):
    code, title = "own-claim-verification", "An organisation may not verify or resolve its own claim"


class DuplicateParticipant(Conflict):
    code, title = "duplicate-participant", "This person is already enrolled in the partnership"


class InvalidClaimTransition(Conflict):
    code, title = "invalid-claim-transition", "The claim cannot make this transition"


class ParticipantAlreadyExited(Conflict):
    code, title = "participant-already-exited", "The participant has already exited"


class StatementNotDraft(Conflict):
    code, title = "statement-not-draft", "The statement is issued and can no longer change"


class StatementNotIssued(Conflict):
    code, title = "statement-not-issued", "Only an issued statement can be marked paid"


class InvalidCpr(Unprocessable):
    code, title = "invalid-cpr", "Not a valid CPR number"


class NoVersionInForce(Unprocessable):
    code, title = "no-version-in-force", "No contract version is in force on that date"


class ContractMismatch(Unprocessable):
    code, title = "contract-mismatch", "The contract does not belong to this partnership"


class UnknownOutcome(Unprocessable):
    code, title = "unknown-outcome", "The contract in force has no such outcome"


class ParticipantNotEligible(Unprocessable):
    code, title = "participant-not-eligible", "The outcome payer has not confirmed eligibility"


class ParticipantExited(Unprocessable):
    code, title = "participant-exited", "The participant had exited before that date"


class AchievementDateInFuture(Unprocessable):
    code, title = "achievement-date-in-future", "An outcome cannot be achieved in the future"


class AchievementBeforeEnrolment(Unprocessable):
    code, title = "achievement-before-enrolment", "The outcome predates the participant's enrolment"


class OutsideOutcomeWindow(Unprocessable):
    code, title = "outside-outcome-window", "The date lies outside the outcome's window"


class PrerequisiteNotVerified(Unprocessable):
    code, title = "prerequisite-not-verified", "A prerequisite outcome has not been verified"


class PerParticipantMaximum(Unprocessable):
    code, title = "per-participant-maximum", "The participant already has the maximum of this outcome"


class EvidenceMissing(Unprocessable):
    code, title = "evidence-missing", "A claim needs an evidence reference or document"


class EvidenceTooLarge(PayloadTooLarge):
    code, title = "evidence-too-large", "The evidence document is too large"


class ContractFull(Unprocessable):
    code, title = "contract-full", "The contract's maximum number of participants is reached"


class MunicipalityNotPaying(Unprocessable):
    code, title = "municipality-not-paying", "That municipality is not a paying party of the contract"


class CriteriaNotMet(Unprocessable):
    code, title = "criteria-not-met", "The claim's facts do not meet the outcome's criteria or bands"


class SegmentMissing(Unprocessable):
    code, title = "segment-invalid", "The participant's segment is missing or not one the terms declare"


class StartEnded(Unprocessable):
    code, title = "start-ended", "The start this outcome counts from has ended"


class CurrencyNotSupported(Unprocessable):
    code, title = "currency-not-supported", "This service cannot hold amounts in the contract's currency"


class ContractsUnavailable(ServiceUnavailable):
    """Says when to try again, as the OpenAPI documents promise of every 503 (the registry, or its own
    database, is briefly down: a PostgreSQL restart made these the only 503s without it)."""

    code, title = "contracts-unavailable", "The contract registry could not be reached"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": "2"})


class LedgerValueNotFound(NotFound):
    code, title = (
        "ledger-value-not-found",
        "No such ledger value (or not visible to you)",
    )


class NotErasable(Unprocessable):
    code, title = (
        "not-erasable",
        "Only free text (`data.reason`, `data.cohort`) is erased",
    )


class AlreadyErased(Conflict):
    code, title = "already-erased", "This value has already been erased"
