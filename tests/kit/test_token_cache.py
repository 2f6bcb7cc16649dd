"""kit.auth remembers verified tokens until they expire, and still refuses what changed since: a token
revoked (or its subject superseded) after it was first verified, a token past its expiry, a token whose key
was retired."""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc.jwk import RSAKey

from kit.auth import TokenVerifier
from kit.problems import Unauthorized
from kit.revocations import RevocationFeed
from tests.kit.test_auth import AUDIENCE, ISSUER, Keys, claims
from tests.kit.test_revocations import Identity, machine


class CountingVerifier(TokenVerifier):
    """Counts the signature checks, i.e. the cache's misses."""

    checked = 0

    async def _verify_signed(self, token: str) -> Any:
        self.checked += 1
        return await super()._verify_signed(token)


async def counting(keys: Keys, identity: Identity | None = None, **options: Any) -> CountingVerifier:
    feed = None
    if identity is not None:
        feed = RevocationFeed(fetch=identity.fetch)
        await feed.refresh()
    return CountingVerifier(
        issuer=ISSUER, audience=AUDIENCE, fetch_jwks=keys.fetch, revocations=feed, **options
    )


async def test_a_token_is_checked_once_and_then_remembered() -> None:
    keys = Keys()
    verifier = await counting(keys)
    token = keys.sign(claims())
    first = await verifier.verify(token)
    assert await verifier.verify(token) == first
    assert await verifier.verify(token) == first
    assert verifier.checked == 1


async def test_a_token_revoked_after_it_was_remembered_is_refused() -> None:
    keys, identity = Keys(), Identity()
    verifier = await counting(keys, identity)
    payload = machine()
    token = keys.sign(payload)
    await verifier.verify(token)
    identity.document = {"revoked": [payload["jti"]], "superseded": []}
    assert verifier.revocations is not None
    await verifier.revocations.refresh()
    with pytest.raises(Unauthorized, match="revoked"):
        await verifier.verify(token)
    assert verifier.checked == 1  # refused from the cache, by the list applied on the hit


async def test_a_remembered_token_of_a_superseded_subject_is_refused() -> None:
    keys, identity = Keys(), Identity()
    verifier = await counting(keys, identity)
    payload = machine()
    token = keys.sign(payload)
    await verifier.verify(token)
    identity.document = {"revoked": [], "superseded": [{"kind": "client", "id": "ek_machine", "epoch": 3}]}
    assert verifier.revocations is not None
    await verifier.revocations.refresh()
    with pytest.raises(Unauthorized, match="predates a change to its client"):
        await verifier.verify(token)


async def test_a_remembered_token_past_its_expiry_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = Keys()
    verifier = await counting(keys, leeway=0)
    now = int(time.time())
    token = keys.sign(claims(iat=now, exp=now + 60))
    await verifier.verify(token)
    monkeypatch.setattr(time, "time", lambda: now + 61.0)
    with pytest.raises(Unauthorized, match="expired"):
        await verifier.verify(token)
    assert verifier.checked == 2  # the cache gave it up at its expiry; the full check refused it


async def test_a_remembered_token_of_a_retired_key_stops_verifying() -> None:
    keys = Keys()
    verifier = await counting(keys, min_refresh=0, max_age=0)
    token = keys.sign(claims())
    await verifier.verify(token)
    keys.published = [RSAKey.generate_key(2048, parameters={"kid": "k2", "use": "sig", "alg": "RS256"})]
    with pytest.raises(Unauthorized, match="unknown key"):
        await verifier.verify(token)
    assert verifier.checked == 1


async def test_the_cache_is_bounded_and_forgets_the_least_recently_used() -> None:
    keys = Keys()
    verifier = await counting(keys, cache_size=2)
    a, b, c = (keys.sign(claims()) for _ in range(3))
    await verifier.verify(a)
    await verifier.verify(b)
    await verifier.verify(a)  # a is now the most recently used
    await verifier.verify(c)  # b goes
    assert verifier.checked == 3
    await verifier.verify(a)
    assert verifier.checked == 3
    await verifier.verify(b)
    assert verifier.checked == 4


async def test_a_refused_token_is_not_remembered() -> None:
    keys = Keys()
    verifier = await counting(keys)
    token = keys.sign(claims(aud="someone-else"))
    for _ in range(2):
        with pytest.raises(Unauthorized):
            await verifier.verify(token)
    assert verifier.checked == 2
