"""The management API: who may create and read what, bad input refused with nothing changed, one
organisation walled off from another's users and clients, pagination, batch reads and the audit log."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any
from uuid import UUID

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.cast import Actor, Cast, make_cast, token_for
from effekt.sandbox.directory import PASSWORD, create_organisation, create_user, operator_headers, user_token
from effekt.sandbox.http import new_client
from effekt.sandbox.identifiers import cvr as random_cvr
from effekt.sandbox.signin import bearer, claims_of


@pytest.fixture(scope="module")
def cast(shared_cast: Cast) -> Cast:
    """Tests that change an actor take `fresh_cast`; the rest share one cast."""
    return shared_cast


@pytest.fixture
async def fresh_cast(platform: Platform) -> Cast:
    return await make_cast(platform)


@pytest.fixture
async def identity(platform: Platform) -> Any:
    async with new_client(base_url=platform.url("identity"), timeout=30.0) as client:
        yield client


async def admin_of(platform: Platform, actor: Actor) -> dict[str, str]:
    """Headers of a new admin user in the actor's organisation."""
    _user, email, password = await create_user(platform, actor.organisation_id, "admin", label="org-admin")
    token = await user_token(platform, email, password)
    return {"Authorization": f"Bearer {token['access_token']}"}


async def audit_count(identity: httpx.AsyncClient, platform: Platform, **filters: str) -> int:
    response = await identity.get(
        "/v1/audit-events", params={**filters, "limit": "500"}, headers=await operator_headers(platform)
    )
    assert response.status_code == 200, response.text
    return len(response.json()["items"])


# --- organisations ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cvr", ["12345678", "1234567", "abcdefgh", "01234567", "123456789"])
async def test_an_invalid_cvr_is_refused_and_nothing_is_created(
    platform: Platform, identity: httpx.AsyncClient, cvr: str
) -> None:
    name = f"Bad CVR {secrets.token_hex(4)}"
    response = await identity.post(
        "/v1/organisations",
        json={"name": name, "partner_type": "provider", "cvr": cvr},
        headers=await operator_headers(platform),
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid-cvr"
    assert response.json()["invalid_params"][0]["name"] == "body.cvr"
    listing = await identity.get(
        "/v1/organisations",
        params={"limit": 500, "partner_type": "provider"},
        headers=await operator_headers(platform),
    )
    assert name not in {o["name"] for o in listing.json()["items"]}


@pytest.mark.parametrize(
    ("partner_type", "code"), [("municipality", None), ("provider", "657"), ("municipality", "65")]
)
async def test_municipality_codes_belong_to_municipalities_only(
    platform: Platform, identity: httpx.AsyncClient, partner_type: str, code: str | None
) -> None:
    body: dict[str, Any] = {"name": "Kommune", "partner_type": partner_type, "cvr": random_cvr()}
    if code is not None:
        body["municipality_code"] = code
    response = await identity.post("/v1/organisations", json=body, headers=await operator_headers(platform))
    assert response.status_code == 422
    assert response.json()["invalid_params"][0]["name"] == "body.municipality_code"


async def test_only_operators_create_organisations_and_partnerships(
    identity: httpx.AsyncClient, cast: Cast
) -> None:
    body = {"name": "Mine", "partner_type": "provider", "cvr": random_cvr()}
    refused = await identity.post("/v1/organisations", json=body, headers=cast.payer_a.headers)
    assert refused.status_code == 403
    assert refused.json()["code"] == "operator-only"
    refused = await identity.post("/v1/partnerships", json={"name": "Mine"}, headers=cast.provider.headers)
    assert refused.status_code == 403


async def test_creating_an_organisation_is_idempotent_with_a_key(
    platform: Platform, identity: httpx.AsyncClient
) -> None:
    body = {"name": f"Once {secrets.token_hex(3)}", "partner_type": "investor", "cvr": random_cvr()}
    headers = {**await operator_headers(platform), "Idempotency-Key": secrets.token_hex(8)}
    first = await identity.post("/v1/organisations", json=body, headers=headers)
    again = await identity.post("/v1/organisations", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    listing = await identity.get(
        "/v1/organisations",
        params={"limit": 500, "partner_type": "investor"},
        headers=await operator_headers(platform),
    )
    assert [o["name"] for o in listing.json()["items"]].count(body["name"]) == 1


async def test_organisations_page_filter_and_batch_read(
    platform: Platform, identity: httpx.AsyncClient, cast: Cast
) -> None:
    headers = await operator_headers(platform)
    members = await identity.get(
        "/v1/organisations", params={"partnership_id": str(cast.partnership_id), "limit": 3}, headers=headers
    )
    first = members.json()
    assert len(first["items"]) == 3
    rest = await identity.get(
        "/v1/organisations",
        params={"partnership_id": str(cast.partnership_id), "limit": 3, "cursor": first["next_cursor"]},
        headers=headers,
    )
    seen = [o["id"] for o in first["items"]] + [o["id"] for o in rest.json()["items"]]
    rest_cursor = rest.json()["next_cursor"]
    while rest_cursor:
        more = await identity.get(
            "/v1/organisations",
            params={"partnership_id": str(cast.partnership_id), "limit": 3, "cursor": rest_cursor},
            headers=headers,
        )
        seen += [o["id"] for o in more.json()["items"]]
        rest_cursor = more.json()["next_cursor"]
    assert len(seen) == len(set(seen)) == 7
    assert str(cast.outsider.organisation_id) not in seen
    municipalities = await identity.get(
        "/v1/organisations",
        params={"partnership_id": str(cast.partnership_id), "partner_type": "municipality"},
        headers=headers,
    )
    assert {o["municipality_code"] for o in municipalities.json()["items"]} == {"657", "791"}
    ids = f"{cast.payer_a.organisation_id},{cast.investor.organisation_id}"
    batch = await identity.get("/v1/organisations", params={"ids": ids}, headers=headers)
    assert {UUID(o["id"]) for o in batch.json()["items"]} == {
        cast.payer_a.organisation_id,
        cast.investor.organisation_id,
    }
    bad = await identity.get("/v1/organisations", params={"ids": "not-a-uuid"}, headers=headers)
    assert bad.status_code == 400
    assert bad.json()["invalid_params"][0]["name"] == "ids"


async def test_a_partner_sees_its_partners_but_not_outsiders(identity: httpx.AsyncClient, cast: Cast) -> None:
    ids = f"{cast.payer_a.organisation_id},{cast.outsider.organisation_id}"
    seen = await identity.get("/v1/organisations", params={"ids": ids}, headers=cast.provider.headers)
    assert [UUID(o["id"]) for o in seen.json()["items"]] == [cast.payer_a.organisation_id]
    hidden = await identity.get(
        f"/v1/organisations/{cast.provider.organisation_id}", headers=cast.outsider.headers
    )
    assert hidden.status_code == 404
    partnerships = await identity.get(
        "/v1/partnerships", params={"ids": str(cast.partnership_id)}, headers=cast.outsider.headers
    )
    assert partnerships.json()["items"] == []
    mine = await identity.get(
        "/v1/partnerships", params={"ids": str(cast.partnership_id)}, headers=cast.adviser.headers
    )
    assert [p["id"] for p in mine.json()["items"]] == [str(cast.partnership_id)]


# --- users ------------------------------------------------------------------------------------------------


async def test_a_duplicate_email_is_refused_whatever_its_case(
    platform: Platform, identity: httpx.AsyncClient, cast: Cast
) -> None:
    assert cast.provider.email is not None
    body = {
        "email": cast.provider.email.upper(),
        "display_name": "Twin",
        "org_role": "member",
        "password": PASSWORD,
    }
    response = await identity.post(
        f"/v1/organisations/{cast.investor.organisation_id}/users",
        json=body,
        headers=await operator_headers(platform),
    )
    assert response.status_code == 409
    assert response.json()["code"] == "email-taken"
    users = await identity.get(
        "/v1/users",
        params={"organisation_id": str(cast.investor.organisation_id)},
        headers=await operator_headers(platform),
    )
    assert "Twin" not in {u["display_name"] for u in users.json()["items"]}


@pytest.mark.parametrize(
    "password", ["short-1A", "alllowercaseletters", "Herning-Signatory-1", "aaaaaaaaaaaaaaaaaaaaaa"]
)
async def test_a_weak_password_is_refused_and_no_user_is_created(
    platform: Platform, identity: httpx.AsyncClient, cast: Cast, password: str
) -> None:
    email = f"weak-{secrets.token_hex(4)}@example.dk"
    body = {"email": email, "display_name": "Herning Signatory", "org_role": "member", "password": password}
    response = await identity.post(
        f"/v1/organisations/{cast.payer_a.organisation_id}/users",
        json=body,
        headers=await operator_headers(platform),
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "weak-password"
    assert response.json()["invalid_params"][0]["name"] == "body.password"
    users = await identity.get(
        "/v1/users",
        params={"organisation_id": str(cast.payer_a.organisation_id)},
        headers=await operator_headers(platform),
    )
    assert email not in {u["email"] for u in users.json()["items"]}


async def test_an_org_admin_manages_its_own_users_but_not_another_organisations(
    platform: Platform, identity: httpx.AsyncClient, cast: Cast
) -> None:
    admin = await admin_of(platform, cast.provider)
    body = {
        "email": f"new-{secrets.token_hex(4)}@example.dk",
        "display_name": "New",
        "org_role": "member",
        "password": PASSWORD,
    }
    created = await identity.post(
        f"/v1/organisations/{cast.provider.organisation_id}/users", json=body, headers=admin
    )
    assert created.status_code == 201, created.text

    events_before = await audit_count(identity, platform, organisation_id=str(cast.investor.organisation_id))
    foreign = await identity.post(
        f"/v1/organisations/{cast.investor.organisation_id}/users",
        json={**body, "email": f"x-{secrets.token_hex(4)}@example.dk"},
        headers=admin,
    )
    assert foreign.status_code == 404
    investor_user = await identity.get(f"/v1/users/{cast.investor.user_id}", headers=admin)
    assert investor_user.status_code == 404
    listing = await identity.get(
        "/v1/users", params={"organisation_id": str(cast.investor.organisation_id)}, headers=admin
    )
    assert listing.json()["items"] == []
    renamed = await identity.patch(
        f"/v1/users/{cast.investor.user_id}",
        json={"display_name": "Hijacked"},
        headers={**admin, "If-Match": '"1"'},
    )
    assert renamed.status_code == 404
    assert (
        await audit_count(identity, platform, organisation_id=str(cast.investor.organisation_id))
        == events_before
    )


async def test_a_member_cannot_add_users_to_its_own_organisation(
    identity: httpx.AsyncClient, cast: Cast
) -> None:
    body = {
        "email": f"m-{secrets.token_hex(4)}@example.dk",
        "display_name": "M",
        "org_role": "admin",
        "password": PASSWORD,
    }
    response = await identity.post(
        f"/v1/organisations/{cast.provider.organisation_id}/users",
        json=body,
        headers=cast.provider_member.headers,
    )
    assert response.status_code == 403
    assert response.json()["code"] == "not-organisation-admin"


async def test_updating_a_user_needs_the_current_version(
    platform: Platform, identity: httpx.AsyncClient, fresh_cast: Cast
) -> None:
    cast = fresh_cast
    admin = await admin_of(platform, cast.provider)
    read = await identity.get(f"/v1/users/{cast.provider_member.user_id}", headers=admin)
    etag = read.headers["etag"]
    promoted = await identity.patch(
        f"/v1/users/{cast.provider_member.user_id}",
        json={"org_role": "signatory"},
        headers={**admin, "If-Match": etag},
    )
    assert promoted.status_code == 200
    assert promoted.json()["org_role"] == "signatory"
    stale = await identity.patch(
        f"/v1/users/{cast.provider_member.user_id}",
        json={"org_role": "admin"},
        headers={**admin, "If-Match": etag},
    )
    assert stale.status_code == 412
    assert (await identity.get(f"/v1/users/{cast.provider_member.user_id}", headers=admin)).json()[
        "org_role"
    ] == ("signatory")


# --- clients ----------------------------------------------------------------------------------------------


async def test_clients_are_walled_off_between_organisations(
    platform: Platform, identity: httpx.AsyncClient, cast: Cast
) -> None:
    admin = await admin_of(platform, cast.investor)
    body = {
        "name": "Investor ERP",
        "client_type": "confidential",
        "grant_types": ["client_credentials"],
        "scopes": ["feed:read"],
    }
    created = await identity.post(
        f"/v1/organisations/{cast.investor.organisation_id}/clients", json=body, headers=admin
    )
    assert created.status_code == 201
    assert created.json()["client_secret"]
    client_id = created.json()["id"]

    outsider_admin = await admin_of(platform, cast.outsider)
    assert (await identity.get(f"/v1/clients/{client_id}", headers=outsider_admin)).status_code == 404
    assert (await identity.delete(f"/v1/clients/{client_id}", headers=outsider_admin)).status_code == 404
    listing = await identity.get(
        f"/v1/organisations/{cast.investor.organisation_id}/clients", headers=outsider_admin
    )
    assert listing.json()["items"] == []
    made = await identity.post(
        f"/v1/organisations/{cast.investor.organisation_id}/clients", json=body, headers=outsider_admin
    )
    assert made.status_code == 404
    own = await identity.get(f"/v1/clients/{client_id}", headers=admin)
    assert own.json()["disabled_at"] is None
    assert "client_secret" not in own.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"redirect_uris": ["http://portal.example/cb"]}, "body.redirect_uris.0"),
        ({"redirect_uris": ["https://portal.example/cb#frag"]}, "body.redirect_uris.0"),
        ({"redirect_uris": []}, "body.redirect_uris"),
        ({"scopes": ["contracts:read", "root"]}, "body.scopes.1"),
    ],
)
async def test_a_client_with_a_bad_redirect_uri_or_scope_is_refused(
    platform: Platform, identity: httpx.AsyncClient, cast: Cast, body: dict[str, Any], field: str
) -> None:
    base = {
        "name": "Portal",
        "client_type": "public",
        "redirect_uris": ["https://portal.example/cb"],
        "grant_types": ["authorization_code"],
        "scopes": ["openid"],
    }
    response = await identity.post(
        f"/v1/organisations/{cast.provider.organisation_id}/clients",
        json={**base, **body},
        headers=await operator_headers(platform),
    )
    assert response.status_code == 422
    assert response.json()["invalid_params"][0]["name"] == field


async def test_a_disabled_client_gets_no_more_tokens(
    platform: Platform, identity: httpx.AsyncClient, fresh_cast: Cast
) -> None:
    cast = fresh_cast
    admin = await admin_of(platform, cast.provider)
    listing = await identity.get(f"/v1/organisations/{cast.provider.organisation_id}/clients", headers=admin)
    client = next(c for c in listing.json()["items"] if c["client_id"] == cast.provider_machine.client_id)
    disabled = await identity.delete(f"/v1/clients/{client['id']}", headers=admin)
    assert disabled.status_code == 200
    assert disabled.json()["disabled_at"] is not None
    assert cast.provider_machine.client_id
    assert cast.provider_machine.client_secret
    token = await identity.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(cast.provider_machine.client_id, cast.provider_machine.client_secret),
    )
    assert token.status_code == 401
    assert token.json()["error"] == "invalid_client"


# --- memberships ------------------------------------------------------------------------------------------


async def test_the_outcome_payer_adds_members_and_other_members_cannot(
    platform: Platform, identity: httpx.AsyncClient, fresh_cast: Cast
) -> None:
    # An observer: a payer grants a role reaching person-level data only with every payer's consent, and
    # only the operator removes another organisation's membership (tests/identity/test_membership_rules.py).
    cast = fresh_cast
    newcomer = await create_organisation(platform, "evaluator", f"Second opinion {secrets.token_hex(3)}")
    url = f"/v1/partnerships/{cast.partnership_id}/memberships"
    body = {"organisation_id": newcomer["id"], "role": "observer"}
    refused = await identity.post(url, json=body, headers=cast.provider.headers)
    assert refused.status_code == 403
    assert refused.json()["code"] == "not-partnership-manager"
    outsider = await identity.post(url, json=body, headers=cast.outsider.headers)
    assert outsider.status_code == 404
    added = await identity.post(url, json=body, headers=cast.payer_a.headers)
    assert added.status_code == 201, added.text
    duplicate = await identity.post(url, json=body, headers=cast.payer_b.headers)
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "membership-exists"
    memberships = await identity.get(url, params={"limit": 100}, headers=cast.evaluator.headers)
    assert len(memberships.json()["items"]) == 8
    kept = await identity.delete(f"{url}/{added.json()['id']}", headers=cast.payer_a.headers)
    assert kept.status_code == 403
    assert kept.json()["code"] == "operator-only"
    removed = await identity.delete(f"{url}/{added.json()['id']}", headers=await operator_headers(platform))
    assert removed.status_code == 204
    memberships = await identity.get(url, params={"limit": 100}, headers=cast.evaluator.headers)
    assert len(memberships.json()["items"]) == 7


# --- audit ------------------------------------------------------------------------------------------------


async def test_admins_read_their_own_organisations_audit_log_only(
    platform: Platform, identity: httpx.AsyncClient, cast: Cast
) -> None:
    admin = await admin_of(platform, cast.provider)
    own = await identity.get("/v1/audit-events", params={"limit": 500}, headers=admin)
    assert own.status_code == 200
    events = own.json()["items"]
    assert {e["organisation_id"] for e in events} == {str(cast.provider.organisation_id)}
    assert {"organisation.created", "user.created", "client.created", "membership.created"} <= {
        e["action"] for e in events
    }
    created_user = next(e for e in events if e["action"] == "user.created")
    assert "password_hash" not in created_user["after"]
    foreign = await identity.get(
        "/v1/audit-events", params={"organisation_id": str(cast.investor.organisation_id)}, headers=admin
    )
    assert foreign.json()["items"] == []
    member = await identity.get("/v1/audit-events", headers=cast.provider_member.headers)
    assert member.json()["items"] == []


async def test_an_update_without_if_match_is_refused(
    platform: Platform, identity: httpx.AsyncClient, cast: Cast
) -> None:
    response = await identity.patch(
        f"/v1/partnerships/{cast.partnership_id}",
        json={"name": "Renamed"},
        headers=await operator_headers(platform),
    )
    assert response.status_code == 428
    read = await identity.get(
        f"/v1/partnerships/{cast.partnership_id}", headers=await operator_headers(platform)
    )
    assert read.json()["name"] != "Renamed"


async def test_a_closed_partnership_takes_no_new_members(
    platform: Platform, identity: httpx.AsyncClient
) -> None:
    headers = await operator_headers(platform)
    partnership = (await identity.post("/v1/partnerships", json={"name": "Ended"}, headers=headers)).json()
    closed = await identity.patch(
        f"/v1/partnerships/{partnership['id']}",
        json={"status": "closed"},
        headers={**headers, "If-Match": f'"{partnership["version"]}"'},
    )
    assert closed.status_code == 200
    assert closed.headers["etag"] == f'"{partnership["version"] + 1}"'
    organisation = await create_organisation(platform, "provider", "Late joiner")
    response = await identity.post(
        f"/v1/partnerships/{partnership['id']}/memberships",
        json={"organisation_id": organisation["id"], "role": "provider"},
        headers=headers,
    )
    assert response.status_code == 409
    assert response.json()["code"] == "partnership-closed"


async def test_a_machine_client_is_no_admin_of_its_organisation(
    identity: httpx.AsyncClient, cast: Cast
) -> None:
    body = {
        "email": f"bot-{secrets.token_hex(4)}@example.dk",
        "display_name": "Bot",
        "org_role": "admin",
        "password": PASSWORD,
    }
    response = await identity.post(
        f"/v1/organisations/{cast.provider.organisation_id}/users",
        json=body,
        headers=cast.provider_machine.headers,
    )
    assert response.status_code == 403
    assert response.json()["code"] == "not-organisation-admin"


async def test_changing_a_password_needs_the_old_one_and_ends_every_token_of_the_user(
    platform: Platform, identity: httpx.AsyncClient, cast: Cast
) -> None:
    organisation = await create_organisation(platform, "investor", f"Pension {secrets.token_hex(3)}")
    user, email, password = await create_user(platform, organisation["id"], "member", label="pensioner")
    token = await user_token(platform, email, password)
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    url = f"/v1/users/{user['id']}/password"
    wrong = await identity.put(
        url,
        json={"current_password": "Not-The-Password-1", "new_password": "Brand-New-Secret-77"},
        headers=headers,
    )
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "wrong-password"
    weak = await identity.put(
        url, json={"current_password": password, "new_password": "weak"}, headers=headers
    )
    assert weak.status_code == 422
    assert weak.json()["invalid_params"][0]["name"] == "body.new_password"
    earlier = (await user_token(platform, email, password))["access_token"]

    changed = await identity.put(
        url, json={"current_password": password, "new_password": "Brand-New-Secret-77"}, headers=headers
    )
    assert changed.status_code == 204
    refresh = await identity.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "client_id": claims_of(token["access_token"])["client_id"],
        },
    )
    assert refresh.json()["error"] == "invalid_grant"
    # The access token that asked for the change ended with the old password, and one signed in before it.
    assert (await identity.get(f"/v1/users/{user['id']}", headers=headers)).status_code == 401
    assert (await identity.get(f"/v1/users/{user['id']}", headers=bearer(earlier))).status_code == 401
    fresh = await user_token(platform, email, "Brand-New-Secret-77")
    headers = bearer(fresh["access_token"])
    assert (await identity.get(f"/v1/users/{user['id']}", headers=headers)).status_code == 200
    other = await identity.put(
        f"/v1/users/{cast.investor.user_id}/password",
        json={"new_password": "Brand-New-Secret-78"},
        headers=headers,
    )
    assert other.status_code == 404


async def test_concurrent_sign_ups_with_one_email_create_one_user(
    platform: Platform, identity: httpx.AsyncClient, cast: Cast
) -> None:
    email = f"race-{secrets.token_hex(4)}@example.dk"
    headers = await operator_headers(platform)
    responses = await asyncio.gather(
        *(
            identity.post(
                f"/v1/organisations/{cast.provider.organisation_id}/users",
                json={
                    "email": email if i % 2 else email.upper(),
                    "display_name": f"Racer {i}",
                    "org_role": "member",
                    "password": PASSWORD,
                },
                headers=headers,
            )
            for i in range(4)
        )
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    users = await identity.get(
        "/v1/users",
        params={"organisation_id": str(cast.provider.organisation_id), "limit": 500},
        headers=headers,
    )
    assert [u["email"].lower() for u in users.json()["items"]].count(email) == 1


async def test_concurrent_grants_of_one_role_create_one_membership(
    platform: Platform, identity: httpx.AsyncClient, fresh_cast: Cast
) -> None:
    cast = fresh_cast
    organisation = await create_organisation(
        platform, "legal_adviser", f"Race counsel {secrets.token_hex(3)}"
    )
    url = f"/v1/partnerships/{cast.partnership_id}/memberships"
    body = {"organisation_id": organisation["id"], "role": "adviser"}
    responses = await asyncio.gather(
        *(identity.post(url, json=body, headers=actor.headers) for actor in (cast.payer_a, cast.payer_b) * 2)
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    listing = await identity.get(url, params={"limit": 100}, headers=cast.payer_a.headers)
    assert [m["organisation_id"] for m in listing.json()["items"]].count(organisation["id"]) == 1


async def test_the_management_api_needs_a_token_and_the_right_scope(
    platform: Platform, identity: httpx.AsyncClient, cast: Cast
) -> None:
    anonymous = await identity.get("/v1/organisations")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    narrow = await token_for(platform, cast.provider_machine, "contracts:read")
    refused = await identity.get("/v1/organisations", headers={"Authorization": f"Bearer {narrow}"})
    assert refused.status_code == 403
    assert refused.json()["required_scope"] == "partners:read"


async def test_a_public_client_cannot_use_client_credentials(
    platform: Platform, identity: httpx.AsyncClient, cast: Cast
) -> None:
    response = await identity.post(
        f"/v1/organisations/{cast.provider.organisation_id}/clients",
        json={
            "name": "Leaky",
            "client_type": "public",
            "grant_types": ["client_credentials"],
            "scopes": ["contracts:read"],
        },
        headers=await operator_headers(platform),
    )
    assert response.status_code == 422
    assert response.json()["invalid_params"][0]["name"] == "body.grant_types"
