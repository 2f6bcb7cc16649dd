"""Problem details keep RFC 9457's members: an extension cannot replace them."""

from __future__ import annotations

import pytest

from kit.problems import Conflict


def test_an_extension_named_like_a_standard_member_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match=r"\['status'\]"):
        Conflict("a verified claim cannot be disputed", status="verified")


def test_other_extensions_ride_along_beside_the_standard_members() -> None:
    body = Conflict("a verified claim cannot be disputed", claim_status="verified").body("r1", "/v1/x")
    assert (body["status"], body["claim_status"], body["request_id"]) == (409, "verified", "r1")
