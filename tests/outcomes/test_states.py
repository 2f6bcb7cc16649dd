"""The claim state machine: verify or reject, one dispute, a final resolution, idempotent replays."""

from __future__ import annotations

import pytest

from services.outcomes.states import Action, ClaimStatus, InvalidTransition, transition

C, V, R, D = ClaimStatus.CLAIMED, ClaimStatus.VERIFIED, ClaimStatus.REJECTED, ClaimStatus.DISPUTED


@pytest.mark.parametrize(
    ("status", "action", "disputed", "after"),
    [
        (C, Action.VERIFY, False, V),
        (C, Action.REJECT, False, R),
        (R, Action.DISPUTE, False, D),
        (D, Action.RESOLVE_VERIFY, True, V),
        (D, Action.RESOLVE_REJECT, True, R),
    ],
)
def test_allowed_transitions(status: ClaimStatus, action: Action, disputed: bool, after: ClaimStatus) -> None:
    assert transition(status, action, disputed=disputed) is after


@pytest.mark.parametrize(
    ("status", "action", "disputed"),
    [
        (V, Action.VERIFY, False),
        (R, Action.REJECT, False),
        (D, Action.DISPUTE, True),
        (V, Action.RESOLVE_VERIFY, True),
        (R, Action.RESOLVE_REJECT, True),
    ],
)
def test_repeating_a_decision_is_a_no_op(status: ClaimStatus, action: Action, disputed: bool) -> None:
    assert transition(status, action, disputed=disputed) is None


@pytest.mark.parametrize(
    ("status", "action", "disputed"),
    [
        (V, Action.REJECT, False),
        (R, Action.VERIFY, False),
        (C, Action.DISPUTE, False),
        (V, Action.DISPUTE, False),
        (R, Action.DISPUTE, True),  # a final rejection cannot be disputed again
        (C, Action.RESOLVE_VERIFY, False),
        (R, Action.RESOLVE_VERIFY, False),
        (D, Action.VERIFY, True),
        (D, Action.REJECT, True),
        (V, Action.VERIFY, True),  # verified by resolution; a plain verify is not a replay of it
    ],
)
def test_other_transitions_are_refused(status: ClaimStatus, action: Action, disputed: bool) -> None:
    with pytest.raises(InvalidTransition):
        transition(status, action, disputed=disputed)
