"""The verifier refuses what identity's revocation list names, and nothing else; it keeps its last list
when identity cannot be reached, and refuses everything until it has had a first one."""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from kit.auth import TokenVerifier
from kit.problems import Unauthorized
from kit.revocations import RevocationFeed, Revocations, feed_from_settings
from kit.settings import AppSettings, InsecureConfiguration
from tests.kit.test_auth import AUDIENCE, ISSUER, Keys, claims


class Identity:
    """Stands in for identity's list endpoint: a document, or a failure."""

    def __init__(self, document: Mapping[str, Any] | None = None) -> None:
        self.document: Mapping[str, Any] = document or {"revoked": [], "superseded": []}
        self.down = False
        self.fetches = 0

    async def fetch(self) -> Mapping[str, Any]:
        self.fetches += 1
        if self.down:
            raise httpx.ConnectError("identity is down")
        return self.document


@pytest.fixture
def keys() -> Keys:
    return Keys()


async def verifier_with(keys: Keys, identity: Identity) -> TokenVerifier:
    feed = RevocationFeed(fetch=identity.fetch)
    await feed.refresh()
    return TokenVerifier(issuer=ISSUER, audience=AUDIENCE, fetch_jwks=keys.fetch, revocations=feed)


def machine(**overrides: Any) -> dict[str, Any]:
    """A client-credentials token's claims, issued under epoch 2 of its organisation and client."""
    base = claims(sub="ek_machine", sub_type="client", client_id="ek_machine")
    base.pop("org_role")
    base["epochs"] = {"organisation": 2, "client": 2}
    base.update(overrides)
    return base


async def test_a_listed_token_id_is_refused_and_another_is_not(keys: Keys) -> None:
    revoked, other = machine(), machine()
    verifier = await verifier_with(keys, Identity({"revoked": [revoked["jti"]], "superseded": []}))
    with pytest.raises(Unauthorized, match="revoked") as refused:
        await verifier.verify(keys.sign(revoked))
    assert refused.value.status == 401
    assert refused.value.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await verifier.verify(keys.sign(other))).token_id == other["jti"]


async def test_a_token_of_a_listed_sign_in_is_refused_and_one_of_another_is_not(keys: Keys) -> None:
    ended, other, older = claims(sid=str(uuid.uuid4())), claims(sid=str(uuid.uuid4())), claims()
    document = {"revoked": [], "sessions": [ended["sid"]], "superseded": []}
    verifier = await verifier_with(keys, Identity(document))
    with pytest.raises(Unauthorized, match="revoked with its sign-in") as refused:
        await verifier.verify(keys.sign(ended))
    assert refused.value.status == 401
    assert (await verifier.verify(keys.sign(other))).session_id == other["sid"]
    assert (await verifier.verify(keys.sign(older))).session_id is None
    # An older identity's list has no `sessions`: it ends none.
    assert Revocations.from_document({"revoked": [], "superseded": []}).sessions == frozenset()


@pytest.mark.parametrize(
    ("kind", "subject_claim"),
    [("organisation", "org_id"), ("client", "client_id"), ("user", "sub")],
)
async def test_a_token_below_its_subjects_epoch_is_refused_and_one_at_it_is_not(
    keys: Keys, kind: str, subject_claim: str
) -> None:
    token = claims(client_id="ek_web")
    token["epochs"] = {"organisation": 2, "client": 2, "user": 2}
    floor = {"kind": kind, "id": token[subject_claim], "epoch": 3}
    verifier = await verifier_with(keys, Identity({"revoked": [], "superseded": [floor]}))
    with pytest.raises(Unauthorized, match=f"predates a change to its {kind}"):
        await verifier.verify(keys.sign(token))
    token["epochs"][kind] = 3
    assert await verifier.verify(keys.sign(token))


async def test_a_floor_for_another_subject_changes_nothing(keys: Keys) -> None:
    token = machine()
    superseded = [
        {"kind": "organisation", "id": str(uuid.uuid4()), "epoch": 9},
        {"kind": "client", "id": "ek_someone_else", "epoch": 9},
        # A user with the client's id as its subject is still another subject.
        {"kind": "user", "id": token["sub"], "epoch": 9},
    ]
    verifier = await verifier_with(keys, Identity({"revoked": [], "superseded": superseded}))
    assert (await verifier.verify(keys.sign(token))).organisation_id == uuid.UUID(token["org_id"])


async def test_a_token_from_before_epochs_existed_is_at_epoch_zero(keys: Keys) -> None:
    token = machine()
    del token["epochs"]
    floor = {"kind": "organisation", "id": token["org_id"], "epoch": 1}
    verifier = await verifier_with(keys, Identity({"revoked": [], "superseded": [floor]}))
    with pytest.raises(Unauthorized, match="predates"):
        await verifier.verify(keys.sign(token))


async def test_identity_unreachable_keeps_the_last_list_and_keeps_serving(keys: Keys) -> None:
    revoked, fine = machine(), machine()
    identity = Identity({"revoked": [revoked["jti"]], "superseded": []})
    verifier = await verifier_with(keys, identity)
    feed = verifier.revocations
    assert feed is not None
    identity.down = True
    with pytest.raises(httpx.ConnectError):
        await feed.refresh()
    assert await verifier.verify(keys.sign(fine))
    with pytest.raises(Unauthorized, match="revoked"):
        await verifier.verify(keys.sign(revoked))
    assert feed.age() > 0


async def test_before_any_list_has_arrived_every_token_is_refused(keys: Keys) -> None:
    identity = Identity()
    identity.down = True
    feed = RevocationFeed(fetch=identity.fetch, first_fetch_retry=0)
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, fetch_jwks=keys.fetch, revocations=feed)
    with pytest.raises(Unauthorized, match="revocation list"):
        await verifier.verify(keys.sign(machine()))
    assert feed.age() == float("inf")
    identity.down = False
    assert await verifier.verify(keys.sign(machine()))
    assert identity.fetches == 2


def test_a_list_with_a_non_integer_epoch_is_refused() -> None:
    with pytest.raises(ValueError, match="integer"):
        Revocations.from_document({"revoked": [], "superseded": [{"kind": "user", "id": "u", "epoch": True}]})


def test_an_organisations_memberships_are_read_with_its_floor_and_only_where_listed() -> None:
    listed = Revocations.from_document(
        {
            "revoked": [],
            "superseded": [
                {
                    "kind": "organisation",
                    "id": "o1",
                    "epoch": 3,
                    "memberships": [
                        {"partnership_id": "p1", "role": "investor"},
                        {"partnership_id": "p2", "role": "observer"},
                    ],
                },
                {"kind": "organisation", "id": "o2", "epoch": 1},
                {
                    "kind": "user",
                    "id": "u",
                    "epoch": 2,
                    "memberships": [{"partnership_id": "p", "role": "x"}],
                },
            ],
        }
    )
    assert listed.superseded == {("organisation", "o1"): 3, ("organisation", "o2"): 1, ("user", "u"): 2}
    assert listed.memberships == {"o1": frozenset({("p1", "investor"), ("p2", "observer")})}


def test_production_refuses_to_serve_without_a_client_for_the_list() -> None:
    secret = SecretStr(secrets.token_urlsafe(48))
    with pytest.raises(InsecureConfiguration, match="REVOCATIONS_CLIENT_ID"):
        feed_from_settings(AppSettings(environment="production", secret_key=secret))
    assert feed_from_settings(AppSettings(environment="development")) is None
    configured = AppSettings(
        environment="production",
        secret_key=secret,
        jwks_url="http://identity/jwks.json",
        revocations_client_id="effekt-gateway",
        revocations_client_secret=SecretStr(secrets.token_urlsafe(32)),
    )
    assert feed_from_settings(configured) is not None
    assert configured.revocations_url == "http://identity/v1/token-revocations"
    assert configured.token_url == "http://identity/oauth2/token"


def test_answered_polls_stay_out_of_the_log_and_failed_ones_do_not() -> None:
    url = "http://identity/v1/token-revocations"
    feed = RevocationFeed(url=url, token_url="http://identity/oauth2/token", client_id="c", client_secret="s")
    quiet = feed._quiet
    assert quiet is not None

    def record(target: str, status: int) -> logging.LogRecord:
        args = ("GET", httpx.URL(target), "HTTP/1.1", status, "")
        message = 'HTTP Request: %s %s "%s %d %s"'
        return logging.LogRecord("httpx", logging.INFO, __file__, 0, message, args, None)

    assert not quiet.filter(record(url, 304))
    assert not quiet.filter(record(url, 200))
    assert quiet.filter(record(url, 401))
    assert quiet.filter(record("http://identity/v1/organisations", 200))
