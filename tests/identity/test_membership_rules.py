"""Who grants roles in a partnership (services/identity/partnerships/access.py), role by role, through
identity's REST API: no organisation grants itself a role; a role reaching person-level data comes from
the operator or from a membership grant every outcome payer consented to; removing another
organisation's membership and changing a partnership are the operator's. Every refusal is a 403 problem
that changes nothing."""

from __future__ import annotations

import secrets
from typing import Any
from uuid import UUID

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.cast import Actor, Cast, token_for, user_actor
from effekt.sandbox.directory import add_membership, create_organisation, operator_headers, remove_membership
from effekt.sandbox.http import new_client
from effekt.sandbox.signin import claims_of
from kit.partners import MEMBERSHIP_ROLES
from services.identity.partnerships import access

ROLES = sorted(access.GRANT_PATH)
PERSON_LEVEL = sorted(access.PERSON_LEVEL_ROLES)
OTHERS = sorted(set(ROLES) - access.PERSON_LEVEL_ROLES)
PARTNER_TYPE = {
    "outcome_payer": "municipality",
    "provider": "provider",
    "evaluator": "evaluator",
    "investor": "investor",
    "adviser": "legal_adviser",
    "observer": "provider",
}


@pytest.fixture(scope="module")
def cast(shared_cast: Cast) -> Cast:
    return shared_cast


@pytest.fixture
async def identity(platform: Platform) -> Any:
    async with new_client(base_url=platform.url("identity"), timeout=30.0) as client:
        yield client


async def newcomer(platform: Platform, role: str) -> dict[str, Any]:
    partner_type = PARTNER_TYPE[role]
    code = "740" if partner_type == "municipality" else None
    return await create_organisation(
        platform, partner_type, f"Newcomer {role} {secrets.token_hex(3)}", municipality_code=code
    )


async def memberships(identity: httpx.AsyncClient, platform: Platform, partnership_id: UUID) -> set[Any]:
    listed = await identity.get(
        f"/v1/partnerships/{partnership_id}/memberships",
        params={"limit": 500},
        headers=await operator_headers(platform),
    )
    assert listed.status_code == 200, listed.text
    return {(m["id"], m["organisation_id"], m["role"]) for m in listed.json()["items"]}


async def grants(identity: httpx.AsyncClient, platform: Platform, partnership_id: UUID) -> list[Any]:
    listed = await identity.get(
        f"/v1/partnerships/{partnership_id}/membership-grants",
        params={"limit": 500},
        headers=await operator_headers(platform),
    )
    assert listed.status_code == 200, listed.text
    return list(listed.json()["items"])


def refused(response: httpx.Response, code: str) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


def key() -> dict[str, str]:
    return {"Idempotency-Key": secrets.token_hex(8)}


async def paying_partnership(platform: Platform, payers: int) -> tuple[UUID, list[Actor]]:
    """A partnership of its own with `payers` outcome payers, each with a signed-in user."""
    async with new_client(base_url=platform.url("identity"), timeout=30.0) as identity:
        created = await identity.post(
            "/v1/partnerships",
            json={"name": f"Consent {secrets.token_hex(3)}"},
            headers=await operator_headers(platform),
        )
    assert created.status_code == 201, created.text
    partnership_id = UUID(created.json()["id"])
    actors = []
    for index in range(payers):
        organisation = await newcomer(platform, "outcome_payer")
        await add_membership(platform, partnership_id, organisation["id"], "outcome_payer")
        actors.append(await user_actor(platform, organisation, "member", f"payer-{index}"))
    return partnership_id, actors


# --- the rules as data ------------------------------------------------------------------------------------


def test_every_role_the_service_accepts_has_exactly_one_way_in() -> None:
    assert set(access.GRANT_PATH) == set(MEMBERSHIP_ROLES)
    consent = {role for role, path in access.GRANT_PATH.items() if path is access.GrantPath.CONSENT}
    assert consent == access.PERSON_LEVEL_ROLES == {"outcome_payer", "provider", "evaluator"}
    assert set(ROLES) - {"outcome_payer"} == access.LEAVABLE_ROLES
    with pytest.raises(ValueError, match="no grant path"):
        access.grant_path("owner")


A, B, C, X = (UUID(int=n) for n in range(1, 5))


@pytest.mark.parametrize(
    ("payers", "consented", "grantee", "complete"),
    [
        ({A, B}, {A}, X, False),
        ({A, B}, {A, B}, X, True),
        ({A}, {A}, X, True),
        # A payer may be widened when the others decide it, never by its own consent alone.
        ({A, B}, {A, B}, B, True),
        ({B}, {A, B}, B, False),
        ({B}, {B}, B, False),
        (set(), set(), X, False),
        # A former payer's consent neither helps nor hurts; a new payer's is needed.
        ({A, B}, {A, B, C}, X, True),
        ({A, B, C}, {A, B}, X, False),
    ],
)
def test_a_grant_is_complete_when_every_current_payer_and_someone_besides_the_grantee_consented(
    payers: set[UUID], consented: set[UUID], grantee: UUID, complete: bool
) -> None:
    assert access.consents_complete(payers, consented, grantee) is complete


# --- granting --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
async def test_no_organisation_grants_itself_a_role_not_even_the_operator(
    platform: Platform, identity: httpx.AsyncClient, cast: Cast, role: str
) -> None:
    before = await memberships(identity, platform, cast.partnership_id)
    grants_before = await grants(identity, platform, cast.partnership_id)
    operator = await operator_headers(platform)
    for actor, headers in (
        (cast.payer_a, cast.payer_a.headers),
        (cast.provider, cast.provider.headers),
        (cast.investor, cast.investor.headers),
        (cast.observer, cast.observer.headers),
        (cast.operator, operator),
    ):
        body = {"organisation_id": str(actor.organisation_id), "role": role}
        for path in ("memberships", "membership-grants"):
            response = await identity.post(
                f"/v1/partnerships/{cast.partnership_id}/{path}", json=body, headers={**headers, **key()}
            )
            refused(response, "own-membership")
    assert await memberships(identity, platform, cast.partnership_id) == before
    assert await grants(identity, platform, cast.partnership_id) == grants_before


@pytest.mark.parametrize("role", ROLES)
async def test_an_outcome_payer_grants_directly_only_roles_without_person_level_data(
    platform: Platform, identity: httpx.AsyncClient, cast: Cast, role: str
) -> None:
    organisation = await newcomer(platform, role)
    before = await memberships(identity, platform, cast.partnership_id)
    response = await identity.post(
        f"/v1/partnerships/{cast.partnership_id}/memberships",
        json={"organisation_id": organisation["id"], "role": role},
        headers={**cast.payer_a.headers, **key()},
    )
    if role in access.PERSON_LEVEL_ROLES:
        refused(response, "consent-required")
        assert "membership-grants" in response.json()["detail"]
        assert await memberships(identity, platform, cast.partnership_id) == before
    else:
        assert response.status_code == 201, response.text
        assert response.json()["role"] == role


@pytest.mark.parametrize("role", ROLES)
async def test_other_members_grant_no_role_at_all(
    platform: Platform, identity: httpx.AsyncClient, cast: Cast, role: str
) -> None:
    organisation = await newcomer(platform, role)
    before = await memberships(identity, platform, cast.partnership_id)
    body = {"organisation_id": organisation["id"], "role": role}
    for actor in (cast.provider, cast.evaluator, cast.investor, cast.adviser, cast.observer):
        for path in ("memberships", "membership-grants"):
            response = await identity.post(
                f"/v1/partnerships/{cast.partnership_id}/{path}",
                json=body,
                headers={**actor.headers, **key()},
            )
            refused(response, "not-partnership-manager")
    assert await memberships(identity, platform, cast.partnership_id) == before


@pytest.mark.parametrize("role", ROLES)
async def test_the_operator_grants_any_role_to_another_organisation(
    platform: Platform, identity: httpx.AsyncClient, role: str
) -> None:
    # A partnership of its own: a payer added here would have a say in the shared cast's grants.
    partnership_id, _payers = await paying_partnership(platform, 1)
    organisation = await newcomer(platform, role)
    response = await identity.post(
        f"/v1/partnerships/{partnership_id}/memberships",
        json={"organisation_id": organisation["id"], "role": role},
        headers={**await operator_headers(platform), **key()},
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("role", PERSON_LEVEL)
async def test_a_person_level_role_takes_effect_when_the_last_outcome_payer_consents(
    platform: Platform, identity: httpx.AsyncClient, role: str
) -> None:
    # A partnership of its own: the grant of an outcome payer's role gives the grantee a say in later ones.
    partnership_id, (payer_a, payer_b) = await paying_partnership(platform, 2)
    provider = await newcomer(platform, "provider")
    await add_membership(platform, partnership_id, provider["id"], "provider")
    member = await user_actor(platform, provider, "member", "provider-member")
    organisation = await newcomer(platform, role)
    url = f"/v1/partnerships/{partnership_id}/membership-grants"
    before = await memberships(identity, platform, partnership_id)
    idempotency = key()
    proposed = await identity.post(
        url,
        json={"organisation_id": organisation["id"], "role": role},
        headers={**payer_a.headers, **idempotency},
    )
    assert proposed.status_code == 201, proposed.text
    grant = proposed.json()
    assert grant["status"] == "pending"
    assert grant["proposed_by"] == str(payer_a.organisation_id)
    assert grant["consents"] == [str(payer_a.organisation_id)]
    assert grant["awaiting"] == [str(payer_b.organisation_id)]
    assert grant["membership_id"] is None
    # A retry with the key replays; a second proposal of the same role waits on the first.
    replay = await identity.post(
        url,
        json={"organisation_id": organisation["id"], "role": role},
        headers={**payer_a.headers, **idempotency},
    )
    assert replay.json() == grant
    again = await identity.post(
        url,
        json={"organisation_id": organisation["id"], "role": role},
        headers={**payer_b.headers, **key()},
    )
    assert again.status_code == 409
    assert again.json()["code"] == "membership-grant-pending"
    # Members who are not outcome payers see the grant but have no say; the proposer's repeat adds nothing.
    seen = await identity.get(f"{url}/{grant['id']}", headers=member.headers)
    assert seen.status_code == 200
    assert seen.json() == grant
    refused(
        await identity.post(f"{url}/{grant['id']}/consents", headers={**member.headers, **key()}),
        "not-partnership-manager",
    )
    repeated = await identity.post(f"{url}/{grant['id']}/consents", headers={**payer_a.headers, **key()})
    assert repeated.status_code == 200
    assert repeated.json() == grant
    assert await memberships(identity, platform, partnership_id) == before

    consented = await identity.post(f"{url}/{grant['id']}/consents", headers={**payer_b.headers, **key()})
    assert consented.status_code == 200, consented.text
    granted = consented.json()
    assert granted["status"] == "granted"
    assert granted["consents"] == [str(payer_a.organisation_id), str(payer_b.organisation_id)]
    assert granted["awaiting"] == []
    assert granted["settled_at"] is not None
    added = await memberships(identity, platform, partnership_id) - before
    assert added == {(granted["membership_id"], organisation["id"], role)}
    late = await identity.post(f"{url}/{grant['id']}/consents", headers={**payer_b.headers, **key()})
    assert late.json() == granted

    audit = await identity.get(
        "/v1/audit-events",
        params={"entity_id": grant["id"], "limit": 50},
        headers=await operator_headers(platform),
    )
    # One transaction's events share a timestamp: compare them unordered.
    trail = sorted((e["action"], e["actor_organisation_id"]) for e in audit.json()["items"])
    assert trail == sorted(
        [
            ("membership_grant.proposed", str(payer_a.organisation_id)),
            ("membership_grant.consented", str(payer_a.organisation_id)),
            ("membership_grant.consented", str(payer_b.organisation_id)),
            ("membership_grant.granted", str(payer_b.organisation_id)),
        ]
    )


async def test_an_outsider_becomes_evaluator_only_with_every_payers_consent(
    platform: Platform, identity: httpx.AsyncClient, cast: Cast
) -> None:
    body = {"organisation_id": str(cast.outsider.organisation_id), "role": "evaluator"}
    direct = await identity.post(
        f"/v1/partnerships/{cast.partnership_id}/memberships",
        json=body,
        headers={**cast.payer_a.headers, **key()},
    )
    refused(direct, "consent-required")
    assert claims_of(await token_for(platform, cast.outsider))["memberships"] == []

    url = f"/v1/partnerships/{cast.partnership_id}/membership-grants"
    grant = (await identity.post(url, json=body, headers={**cast.payer_a.headers, **key()})).json()
    assert grant["status"] == "pending"
    assert claims_of(await token_for(platform, cast.outsider))["memberships"] == []
    done = await identity.post(f"{url}/{grant['id']}/consents", headers={**cast.payer_b.headers, **key()})
    assert done.json()["status"] == "granted"
    assert claims_of(await token_for(platform, cast.outsider))["memberships"] == [
        {"partnership_id": str(cast.partnership_id), "role": "evaluator"}
    ]


async def test_a_sole_outcome_payers_proposal_takes_effect_at_once(
    platform: Platform, identity: httpx.AsyncClient
) -> None:
    partnership_id, (payer,) = await paying_partnership(platform, 1)
    organisation = await newcomer(platform, "provider")
    proposed = await identity.post(
        f"/v1/partnerships/{partnership_id}/membership-grants",
        json={"organisation_id": organisation["id"], "role": "provider"},
        headers={**payer.headers, **key()},
    )
    assert proposed.status_code == 201, proposed.text
    assert proposed.json()["status"] == "granted"
    assert proposed.json()["consents"] == [str(payer.organisation_id)]
    listed = await memberships(identity, platform, partnership_id)
    assert (proposed.json()["membership_id"], organisation["id"], "provider") in listed


async def test_the_consents_needed_are_those_of_the_payers_at_the_time_and_never_the_grantees_alone(
    platform: Platform, identity: httpx.AsyncClient
) -> None:
    partnership_id, (first, second) = await paying_partnership(platform, 2)
    url = f"/v1/partnerships/{partnership_id}/membership-grants"
    # The first payer proposes the second as provider (reading the first's residents), then leaves.
    widen = (
        await identity.post(
            url,
            json={"organisation_id": str(second.organisation_id), "role": "provider"},
            headers={**first.headers, **key()},
        )
    ).json()
    assert widen["awaiting"] == [str(second.organisation_id)]
    # A payer joining while another grant is pending must consent to it too.
    outsider = await newcomer(platform, "evaluator")
    evaluate = (
        await identity.post(
            url,
            json={"organisation_id": outsider["id"], "role": "evaluator"},
            headers={**first.headers, **key()},
        )
    ).json()
    third_organisation = await newcomer(platform, "outcome_payer")
    await add_membership(platform, partnership_id, third_organisation["id"], "outcome_payer")
    third = await user_actor(platform, third_organisation, "member", "payer-late")
    step = await identity.post(f"{url}/{evaluate['id']}/consents", headers={**second.headers, **key()})
    assert step.json()["status"] == "pending"
    assert step.json()["awaiting"] == [third_organisation["id"]]
    step = await identity.post(f"{url}/{evaluate['id']}/consents", headers={**third.headers, **key()})
    assert step.json()["status"] == "granted"

    await remove_membership(platform, partnership_id, first.organisation_id)
    for payer in (third, second):
        step = await identity.post(f"{url}/{widen['id']}/consents", headers={**payer.headers, **key()})
        assert step.status_code == 200, step.text
    # Third and second consented, the first (proposer) has left: the grantee's own consent is not enough
    # to widen it unless another payer decided it too, and the third did.
    assert step.json()["status"] == "granted"

    # With the grantee the only payer left, nothing it does widens it.
    await remove_membership(platform, partnership_id, third.organisation_id)
    again = await identity.post(
        url,
        json={"organisation_id": str(second.organisation_id), "role": "evaluator"},
        headers={**second.headers, **key()},
    )
    refused(again, "own-membership")


async def test_the_grantees_consent_alone_never_grants(
    platform: Platform, identity: httpx.AsyncClient
) -> None:
    partnership_id, (first, second) = await paying_partnership(platform, 2)
    url = f"/v1/partnerships/{partnership_id}/membership-grants"
    grant = (
        await identity.post(
            url,
            json={"organisation_id": str(second.organisation_id), "role": "provider"},
            headers={**first.headers, **key()},
        )
    ).json()
    await remove_membership(platform, partnership_id, first.organisation_id)
    step = await identity.post(f"{url}/{grant['id']}/consents", headers={**second.headers, **key()})
    assert step.status_code == 200, step.text
    assert step.json()["status"] == "pending"
    assert (second.organisation_id.hex, "provider") not in {
        (UUID(o).hex, r) for _, o, r in await memberships(identity, platform, partnership_id)
    }


async def test_any_outcome_payer_declines_a_pending_grant(
    platform: Platform, identity: httpx.AsyncClient, cast: Cast
) -> None:
    organisation = await newcomer(platform, "provider")
    url = f"/v1/partnerships/{cast.partnership_id}/membership-grants"
    body = {"organisation_id": organisation["id"], "role": "provider"}
    grant = (await identity.post(url, json=body, headers={**cast.payer_a.headers, **key()})).json()
    refused(
        await identity.delete(f"{url}/{grant['id']}", headers=cast.provider.headers),
        "not-partnership-manager",
    )
    declined = await identity.delete(f"{url}/{grant['id']}", headers=cast.payer_b.headers)
    assert declined.status_code == 200, declined.text
    assert declined.json()["status"] == "declined"
    assert declined.json()["awaiting"] == []
    late = await identity.post(f"{url}/{grant['id']}/consents", headers={**cast.payer_b.headers, **key()})
    assert late.status_code == 409
    assert late.json()["code"] == "membership-grant-settled"
    assert organisation["id"] not in {
        o for _, o, _ in await memberships(identity, platform, cast.partnership_id)
    }
    anew = await identity.post(url, json=body, headers={**cast.payer_b.headers, **key()})
    assert anew.status_code == 201
    assert anew.json()["status"] == "pending"
    pending = await identity.get(url, params={"status": "pending"}, headers=cast.payer_a.headers)
    assert anew.json()["id"] in {g["id"] for g in pending.json()["items"]}
    assert grant["id"] not in {g["id"] for g in pending.json()["items"]}


async def test_a_grant_is_invisible_outside_the_partnership(
    platform: Platform, identity: httpx.AsyncClient, cast: Cast
) -> None:
    organisation = await newcomer(platform, "evaluator")
    url = f"/v1/partnerships/{cast.partnership_id}/membership-grants"
    grant = (
        await identity.post(
            url,
            json={"organisation_id": organisation["id"], "role": "evaluator"},
            headers={**cast.payer_a.headers, **key()},
        )
    ).json()
    stranger = await user_actor(platform, organisation, "member", "grantee")
    for call in (
        identity.get(f"{url}/{grant['id']}", headers=stranger.headers),
        identity.post(f"{url}/{grant['id']}/consents", headers={**stranger.headers, **key()}),
        identity.delete(f"{url}/{grant['id']}", headers=stranger.headers),
    ):
        assert (await call).status_code == 404


# --- removing and changing ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
async def test_only_the_operator_removes_another_organisations_membership_and_a_member_may_leave(
    platform: Platform, identity: httpx.AsyncClient, cast: Cast, role: str
) -> None:
    organisation = await newcomer(platform, role)
    membership = await add_membership(platform, cast.partnership_id, organisation["id"], role)
    member = await user_actor(platform, organisation, "member", f"leaver-{role}")
    url = f"/v1/partnerships/{cast.partnership_id}/memberships/{membership['id']}"
    before = await memberships(identity, platform, cast.partnership_id)
    for other in (cast.payer_a, cast.payer_b, cast.provider, cast.evaluator, cast.observer):
        refused(await identity.delete(url, headers=other.headers), "operator-only")
    assert await memberships(identity, platform, cast.partnership_id) == before
    left = await identity.delete(url, headers=member.headers)
    if role in access.LEAVABLE_ROLES:
        assert left.status_code == 204, left.text
    else:
        refused(left, "operator-only")
        assert await memberships(identity, platform, cast.partnership_id) == before
        removed = await identity.delete(url, headers=await operator_headers(platform))
        assert removed.status_code == 204
    assert membership["id"] not in {
        m for m, _, _ in await memberships(identity, platform, cast.partnership_id)
    }


@pytest.mark.parametrize(
    "change", [{"status": "closed"}, {"name": "Taken over"}, {"description": "Ours now"}]
)
async def test_only_the_operator_renames_describes_or_closes_a_partnership(
    platform: Platform, identity: httpx.AsyncClient, cast: Cast, change: dict[str, str]
) -> None:
    url = f"/v1/partnerships/{cast.partnership_id}"
    operator = await operator_headers(platform)
    before = (await identity.get(url, headers=operator)).json()
    for actor in (cast.payer_a, cast.payer_b, cast.provider, cast.investor, cast.evaluator, cast.adviser):
        response = await identity.patch(
            url, json=change, headers={**actor.headers, "If-Match": f'"{before["version"]}"'}
        )
        refused(response, "operator-only")
    assert (await identity.get(url, headers=operator)).json() == before
