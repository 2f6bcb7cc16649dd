"""The claim state machine over every sequence of decisions (test_states.py checks each single step): only the
drawn edges are ever taken, a replay of the last decision changes nothing, a rejection is disputed at most
once, and a final claim never moves again."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from services.outcomes.states import Action, ClaimStatus, InvalidTransition, final, transition

# The diagram in states.py's docstring, written out independently of its table.
EDGES = {
    (ClaimStatus.CLAIMED, Action.VERIFY): ClaimStatus.VERIFIED,
    (ClaimStatus.CLAIMED, Action.REJECT): ClaimStatus.REJECTED,
    (ClaimStatus.REJECTED, Action.DISPUTE): ClaimStatus.DISPUTED,
    (ClaimStatus.DISPUTED, Action.RESOLVE_VERIFY): ClaimStatus.VERIFIED,
    (ClaimStatus.DISPUTED, Action.RESOLVE_REJECT): ClaimStatus.REJECTED,
}


@given(st.lists(st.sampled_from(list(Action)), max_size=12))
def test_any_sequence_of_decisions_follows_only_the_drawn_edges(actions: list[Action]) -> None:
    status, disputed, last = ClaimStatus.CLAIMED, False, None
    disputes = 0
    for action in actions:
        was_final = final(status, disputed=disputed)
        try:
            after = transition(status, action, disputed=disputed)
        except InvalidTransition:
            # Refused: off the diagram, or a second dispute.
            assert (status, action) not in EDGES or (action is Action.DISPUTE and disputed)
            continue
        if after is None:
            # A replay is only ever of the decision that brought the claim here.
            assert action is last
            continue
        assert not was_final, f"{status} is final, yet {action} moved it"
        assert EDGES[(status, action)] is after
        if action is Action.DISPUTE:
            disputes += 1
            disputed = True
        status, last = after, action
        # Sending the same decision again is an idempotent retry.
        assert transition(status, action, disputed=disputed) is None
    assert disputes <= 1


@given(st.lists(st.sampled_from(list(Action)), max_size=12))
def test_a_final_claim_refuses_or_replays_every_decision(actions: list[Action]) -> None:
    for status, disputed in (
        (ClaimStatus.VERIFIED, False),
        (ClaimStatus.VERIFIED, True),
        (ClaimStatus.REJECTED, True),
    ):
        assert final(status, disputed=disputed)
        for action in actions:
            with contextlib.suppress(InvalidTransition):
                assert transition(status, action, disputed=disputed) is None


def test_every_status_is_reachable_from_a_new_claim() -> None:
    reached = {ClaimStatus.CLAIMED}
    frontier = [(ClaimStatus.CLAIMED, False)]
    while frontier:
        status, disputed = frontier.pop()
        for action in Action:
            try:
                after = transition(status, action, disputed=disputed)
            except InvalidTransition:
                continue
            if after is not None and after not in reached:
                reached.add(after)
                frontier.append((after, disputed or action is Action.DISPUTE))
    assert reached == set(ClaimStatus)
