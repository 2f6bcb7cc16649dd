"""The sandbox lasts past the 15 minutes of an access token: the operator's credentials are written to the
data directory and kept across restarts, the demo users' refresh tokens are stored, and `effekt token
--as <who>` mints a fresh access token that every service accepts."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import httpx
import pytest

from effekt.cli import main
from effekt.credentials import operator_credentials
from effekt.launcher import Platform
from effekt.seed import seed
from tests.actors import Actor
from tests.gateway.support import gql


def test_the_operator_secret_is_made_once_private_and_reused(tmp_path: Path) -> None:
    first = operator_credentials(tmp_path, "http://127.0.0.1:8001")
    again = operator_credentials(tmp_path, "http://127.0.0.1:9001")
    assert first == again
    assert len(first[1]) >= 32
    saved = json.loads((tmp_path / "operator.json").read_text())
    assert (saved["client_id"], saved["client_secret"]) == first
    assert saved["token_endpoint"] == "http://127.0.0.1:9001/oauth2/token"
    assert stat.S_IMODE((tmp_path / "operator.json").stat().st_mode) == 0o600
    assert operator_credentials(tmp_path / "other", "http://x")[1] != first[1]


@pytest.fixture(scope="module")
async def sandbox(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory as `effekt up` leaves it: operator.json for this platform's operator, the seed."""
    data_dir = tmp_path_factory.mktemp("sandbox")
    client_id = platform.env["IDENTITY_BOOTSTRAP_OPERATOR_CLIENT_ID"]
    secret = platform.env["IDENTITY_BOOTSTRAP_OPERATOR_CLIENT_SECRET"]
    (data_dir / "operator.json").write_text(json.dumps({"client_id": client_id, "client_secret": secret}))
    assert operator_credentials(data_dir, platform.url("identity")) == (client_id, secret)
    await asyncio.to_thread(seed, platform, data_dir)
    return data_dir


async def _effekt_token(data_dir: Path, who: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = await asyncio.to_thread(main, ["token", "--as", who, "--data-dir", str(data_dir)])
    captured = capsys.readouterr()
    return code, captured.out.strip() or captured.err


async def test_effekt_token_mints_fresh_tokens_from_the_stored_refresh_token(
    sandbox: Path, gateway: httpx.AsyncClient, outcomes: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    stored = json.loads((sandbox / "demo-tokens.json").read_text())
    assert all(user["refresh_token"] for key, user in stored.items() if key != "operator")
    code, token = await _effekt_token(sandbox, "investor", capsys)
    assert code == 0, token
    assert token != stored["investor"]["token"]
    body = await gql(gateway, _actor("investor", token), "{ me { partnerType } }")
    assert body["data"]["me"]["partnerType"] == "INVESTOR"
    # The refresh token rotated and was written back: minting again works (the old one is spent).
    rotated = json.loads((sandbox / "demo-tokens.json").read_text())["investor"]
    assert rotated["refresh_token"] != stored["investor"]["refresh_token"]
    assert rotated["token"] == token
    code, again = await _effekt_token(sandbox, "investor", capsys)
    assert code == 0, again
    assert again != token
    # Every service accepts it, not only the gateway.
    feed = await outcomes.get("/v1/feed", headers={"Authorization": f"Bearer {again}"})
    assert feed.status_code != 401, feed.text


async def test_effekt_token_as_operator_uses_the_saved_client(
    sandbox: Path, identity: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    code, token = await _effekt_token(sandbox, "operator", capsys)
    assert code == 0, token
    organisations = await identity.get("/v1/organisations", headers={"Authorization": f"Bearer {token}"})
    assert organisations.status_code == 200, organisations.text


async def test_effekt_token_names_the_users_it_knows(
    sandbox: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, message = await _effekt_token(sandbox, "nobody", capsys)
    assert code == 1
    assert "investor" in message
    assert "provider" in message


def _actor(partner_type: str, token: str) -> Actor:
    from uuid import UUID

    return Actor(organisation_id=UUID(int=0), partner_type=partner_type, token=token)


async def test_a_demo_organisations_admin_registers_a_machine_client_as_docs_identity_says(
    sandbox: Path,
    identity: httpx.AsyncClient,
    outcomes: httpx.AsyncClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """docs/identity.md, "In the sandbox": the admin's token from `effekt token`, the organisation id from
    demo-tokens.json, then the registration and the machine client's own token."""
    code, admin = await _effekt_token(sandbox, "investor-admin", capsys)
    assert code == 0, admin
    organisation = json.loads((sandbox / "demo-tokens.json").read_text())["investor-admin"]["organisation_id"]
    body = {
        "name": "Investor reporting",
        "client_type": "confidential",
        "grant_types": ["client_credentials"],
        "scopes": ["feed:read"],
    }
    path = f"/v1/organisations/{organisation}/clients"
    registered = await identity.post(path, json=body, headers={"Authorization": f"Bearer {admin}"})
    assert registered.status_code == 201, registered.text
    client = registered.json()
    token = await identity.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "feed:read"},
        auth=(client["client_id"], client["client_secret"]),
    )
    assert token.status_code == 200, token.text
    feed = await outcomes.get("/v1/feed", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert feed.status_code == 200, feed.text
    # The organisation's signatory signs contracts but does not administer it.
    code, signatory = await _effekt_token(sandbox, "investor", capsys)
    assert code == 0, signatory
    refused = await identity.post(path, json=body, headers={"Authorization": f"Bearer {signatory}"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "not-organisation-admin"


async def test_a_stored_refresh_token_is_redeemed_without_effekt_as_docs_identity_says(
    sandbox: Path,
    identity: httpx.AsyncClient,
    contracts: httpx.AsyncClient,
    outcomes: httpx.AsyncClient,
    gateway: httpx.AsyncClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """docs/identity.md, "In the sandbox": an integrator's own HTTP client redeems a demo user's refresh
    token with the client and token endpoint stored beside it, writes the rotated one back, and every
    service takes the fresh access token; `effekt token` then goes on from the written-back token."""
    path = sandbox / "demo-tokens.json"
    entry = json.loads(path.read_text())["evaluator"]
    async with httpx.AsyncClient() as integrator:
        answer = await integrator.post(
            entry["token_endpoint"],
            data={
                "grant_type": "refresh_token",
                "refresh_token": entry["refresh_token"],
                "client_id": entry["client_id"],
            },
        )
    assert answer.status_code == 200, answer.text
    fresh = answer.json()
    assert fresh["refresh_token"] != entry["refresh_token"]
    bearer = {"Authorization": f"Bearer {fresh['access_token']}"}
    assert (await identity.get("/oauth2/userinfo", headers=bearer)).status_code == 200
    assert (await contracts.get("/v1/contracts", headers=bearer)).status_code == 200
    assert (await outcomes.get("/v1/feed", headers=bearer)).status_code == 200
    body = await gql(gateway, _actor("evaluator", fresh["access_token"]), "{ me { partnerType } }")
    assert body["data"]["me"]["partnerType"] == "EVALUATOR"
    stored = json.loads(path.read_text())
    stored["evaluator"] |= {"token": fresh["access_token"], "refresh_token": fresh["refresh_token"]}
    path.write_text(json.dumps(stored))
    code, token = await _effekt_token(sandbox, "evaluator", capsys)
    assert code == 0, token


async def test_effekt_token_signs_in_again_when_the_stored_refresh_token_was_spent_elsewhere(
    sandbox: Path, outcomes: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """An integrator renewed the provider's token with curl and kept the answer to itself: the file's
    refresh token is spent, presenting it ends the sign-in, and `effekt token` signs in again instead of
    sending the user to restart the sandbox."""
    entry = json.loads((sandbox / "demo-tokens.json").read_text())["provider"]
    renew = {
        "grant_type": "refresh_token",
        "refresh_token": entry["refresh_token"],
        "client_id": entry["client_id"],
    }
    async with httpx.AsyncClient() as integrator:
        assert (await integrator.post(entry["token_endpoint"], data=renew)).status_code == 200
        spent = await integrator.post(entry["token_endpoint"], data=renew)
    assert spent.status_code == 400, spent.text
    code, token = await _effekt_token(sandbox, "provider", capsys)
    assert code == 0, token
    answer = await outcomes.get("/v1/feed", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    code, again = await _effekt_token(sandbox, "provider", capsys)  # the new sign-in's refresh token was kept
    assert code == 0, again
    assert again != token
