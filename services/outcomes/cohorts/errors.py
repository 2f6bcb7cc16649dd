"""The cohort payments' problems.

NotFound (404): CohortPaymentNotFound
Forbidden (403): NotAllowedToDecide (four-eyes, evaluators, other payers)
Conflict (409): CohortPaymentExists, CohortPaymentDecided
Unprocessable (422): UnknownCohortOutcome, and field problems naming the body path (kit.problems)
"""

from kit.problems import Conflict, Forbidden, NotFound, Unprocessable


class CohortPaymentNotFound(NotFound):
    code, title = "cohort-payment-not-found", "No such cohort payment (or not visible to you)"


class NotAllowedToDecide(Forbidden):
    code, title = "not-allowed-to-decide", "You may not approve or reject this cohort payment"


class CohortPaymentExists(Conflict):
    code, title = "cohort-payment-exists", "Figures for this cohort and period are already submitted"


class CohortPaymentDecided(Conflict):
    code, title = "cohort-payment-decided", "The cohort payment was already approved or rejected"


class UnknownCohortOutcome(Unprocessable):
    code, title = "unknown-cohort-outcome", "The contract's terms declare no such cohort outcome"
