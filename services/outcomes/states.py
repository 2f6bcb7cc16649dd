"""The claim state machine, and the statuses of a payment statement.

    claimed ──verify──► verified
       └────reject──► rejected ──dispute (once)──► disputed ──resolve──► verified | rejected (final)

A transition to the state a claim is already in with the same decision is a no-op (idempotent retry);
anything else not drawn above is refused. A statement only moves forward: draft ──issue──► issued
──pay──► paid (its rules live in statements/service.py).
"""

from __future__ import annotations

from enum import StrEnum


class ClaimStatus(StrEnum):
    CLAIMED = "claimed"
    VERIFIED = "verified"
    REJECTED = "rejected"
    DISPUTED = "disputed"


# Claims that hold a slot against an outcome's per-participant maximum and bound an exit date.
LIVE_STATUSES = (ClaimStatus.CLAIMED.value, ClaimStatus.VERIFIED.value, ClaimStatus.DISPUTED.value)


def final(status: str, *, disputed: bool) -> bool:
    """Whether no further transition is possible: verified, or rejected after a dispute."""
    return status == ClaimStatus.VERIFIED or (status == ClaimStatus.REJECTED and disputed)


class Action(StrEnum):
    VERIFY = "verify"
    REJECT = "reject"
    DISPUTE = "dispute"
    RESOLVE_VERIFY = "resolve_verify"
    RESOLVE_REJECT = "resolve_reject"


class InvalidTransition(ValueError):
    def __init__(self, status: ClaimStatus, action: Action, reason: str) -> None:
        super().__init__(reason)
        self.status, self.action, self.reason = status, action, reason


_TRANSITIONS: dict[tuple[ClaimStatus, Action], ClaimStatus] = {
    (ClaimStatus.CLAIMED, Action.VERIFY): ClaimStatus.VERIFIED,
    (ClaimStatus.CLAIMED, Action.REJECT): ClaimStatus.REJECTED,
    (ClaimStatus.REJECTED, Action.DISPUTE): ClaimStatus.DISPUTED,
    (ClaimStatus.DISPUTED, Action.RESOLVE_VERIFY): ClaimStatus.VERIFIED,
    (ClaimStatus.DISPUTED, Action.RESOLVE_REJECT): ClaimStatus.REJECTED,
}


def transition(status: ClaimStatus, action: Action, *, disputed: bool) -> ClaimStatus | None:
    """The next status, or None when the claim is already where this action leads (a replay).

    `disputed` says whether the claim has been disputed before: a rejection after a dispute is final.
    """
    if (status, action) in _TRANSITIONS:
        if action is Action.DISPUTE and disputed:
            raise InvalidTransition(status, action, "a rejection may be disputed only once")
        return _TRANSITIONS[(status, action)]
    already = {
        Action.VERIFY: status is ClaimStatus.VERIFIED and not disputed,
        Action.REJECT: status is ClaimStatus.REJECTED and not disputed,
        Action.DISPUTE: status is ClaimStatus.DISPUTED,
        Action.RESOLVE_VERIFY: status is ClaimStatus.VERIFIED and disputed,
        Action.RESOLVE_REJECT: status is ClaimStatus.REJECTED and disputed,
    }[action]
    if already:
        return None
    if action is Action.DISPUTE and status is ClaimStatus.REJECTED:
        raise InvalidTransition(status, action, "a rejection may be disputed only once")
    raise InvalidTransition(status, action, f"a {status.value} claim cannot be given `{action.value}`")


class StatementStatus(StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    PAID = "paid"
