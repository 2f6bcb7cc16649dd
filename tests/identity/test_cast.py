"""The shared cast: every actor holds a real token with the organisation, role and memberships it should."""

from __future__ import annotations

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast, make_cast, token_for
from effekt.sandbox.signin import claims_of


async def test_every_actor_holds_a_token_for_its_organisation_and_role(cast: Cast) -> None:
    partnership = str(cast.partnership_id)
    expected = {
        "payer_a": ("municipality", "outcome_payer", "signatory"),
        "payer_b": ("municipality", "outcome_payer", "signatory"),
        "provider": ("provider", "provider", "signatory"),
        "investor": ("investor", "investor", "signatory"),
        "evaluator": ("evaluator", "evaluator", "member"),
        "adviser": ("legal_adviser", "adviser", "member"),
        "observer": ("provider", "observer", "member"),
        "provider_member": ("provider", "provider", "member"),
    }
    for name, (partner_type, role, org_role) in expected.items():
        actor = getattr(cast, name)
        claims = claims_of(actor.token)
        assert claims["partner_type"] == partner_type, name
        assert claims["org_id"] == str(actor.organisation_id), name
        assert claims["sub"] == str(actor.user_id), name
        assert claims["org_role"] == org_role, name
        assert {"partnership_id": partnership, "role": role} in claims["memberships"], name
    assert claims_of(cast.payer_a.token)["municipality_code"] == "657"
    assert claims_of(cast.payer_b.token)["municipality_code"] == "791"
    assert claims_of(cast.operator.token)["partner_type"] == "operator"
    assert claims_of(cast.outsider.token)["memberships"] == []
    machine = claims_of(cast.investor_machine.token)
    assert machine["sub_type"] == "client"
    assert "feed:read" in machine["scope"].split()
    assert {"partnership_id": partnership, "role": "investor"} in machine["memberships"]


async def test_two_casts_share_nothing(platform: Platform, cast: Cast) -> None:
    other = await make_cast(platform)
    assert other.partnership_id != cast.partnership_id
    assert other.payer_a.organisation_id != cast.payer_a.organisation_id
    assert str(cast.partnership_id) not in str(claims_of(other.provider.token)["memberships"])


async def test_token_for_mints_a_narrower_token(platform: Platform, cast: Cast) -> None:
    token = await token_for(platform, cast.provider, "openid contracts:read")
    assert claims_of(token)["scope"] == "openid contracts:read"
    machine = await token_for(platform, cast.provider_machine, "contracts:read")
    assert claims_of(machine)["scope"] == "contracts:read"
