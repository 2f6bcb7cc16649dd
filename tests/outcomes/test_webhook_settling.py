"""Whether a webhook subscription holds after its organisation's memberships changed (pure rules; the
end-to-end cases are in tests/outcomes/integrations/test_webhook_membership_ended.py)."""

from __future__ import annotations

from uuid import uuid4

from services.outcomes.webhooks.revocations import DISABLED_REASON, disabled_reason

HERE, ELSEWHERE = uuid4(), uuid4()


def test_the_same_role_in_the_partnership_holds_whatever_changed_elsewhere() -> None:
    memberships = {(str(HERE), "investor")}
    assert disabled_reason(HERE, "investor", memberships) is None


def test_a_second_role_that_reveals_no_more_keeps_the_audience() -> None:
    memberships = {(str(HERE), "investor"), (str(HERE), "observer"), (str(ELSEWHERE), "provider")}
    assert disabled_reason(HERE, "investor", memberships) is None


def test_no_role_left_in_the_partnership_disables_it() -> None:
    reason = disabled_reason(HERE, "investor", {(str(ELSEWHERE), "investor")})
    assert reason == "the organisation is no longer a partner in this partnership"


def test_a_role_that_would_change_what_it_receives_disables_it_either_way() -> None:
    down = disabled_reason(HERE, "investor", {(str(HERE), "observer")})
    assert "as observer, not investor" in str(down)
    up = disabled_reason(HERE, "investor", {(str(HERE), "investor"), (str(HERE), "evaluator")})
    assert "as evaluator, not investor" in str(up)


def test_without_memberships_in_the_list_nothing_says_which_partnership_changed() -> None:
    assert disabled_reason(HERE, "investor", None) == DISABLED_REASON
