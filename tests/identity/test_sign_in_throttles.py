"""Sign-in throttling: an e-mail address is locked alike whether or not an account has it (no account
enumeration), and failed sign-ins are throttled per source address and per OAuth client with `429` and
`Retry-After`, before any password is hashed. The test platform's uvicorn trusts `X-Forwarded-For` from
127.0.0.1 (as production's does from its proxies), which lets one test sign in from many addresses."""

from __future__ import annotations

import re
import secrets
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.directory import (
    create_organisation,
    create_user,
    operator_headers,
    unique_email,
    web_client_id,
)
from effekt.sandbox.http import new_client
from effekt.sandbox.signin import authorization_code, pkce_pair
from tests.platform import running_platform

ADDRESS_LIMIT = 4
CLIENT_LIMIT = 8
WINDOW = 120


@pytest.fixture(scope="module")
def throttled(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """An identity of its own with low per-address and per-client limits (accounts lock late, so only
    those two counters act)."""
    log_dir: Path = tmp_path_factory.mktemp("throttled-identity-logs")
    limits = {
        "IDENTITY_LOGIN_ADDRESS_MAX_FAILURES": str(ADDRESS_LIMIT),
        "IDENTITY_LOGIN_CLIENT_MAX_FAILURES": str(CLIENT_LIMIT),
        "IDENTITY_LOGIN_THROTTLE_WINDOW_SECONDS": str(WINDOW),
        "IDENTITY_LOGIN_MAX_FAILURES": "1000",
    }
    with running_platform(pg_server_url, log_dir, only=("identity",), extra_env=limits) as running:
        yield running


def _address() -> str:
    return f"198.51.100.{secrets.randbelow(250) + 1}"  # a fresh-looking address per call (TEST-NET-2)


async def _sign_in(
    platform: Platform, *, client_id: str, email: str, password: str, address: str, challenge: str = ""
) -> httpx.Response:
    headers = {"X-Forwarded-For": address}
    async with new_client(base_url=platform.url("identity"), headers=headers, timeout=30) as identity:
        return await authorization_code(
            identity,
            client_id=client_id,
            email=email,
            password=password,
            scopes="openid",
            challenge=challenge or pkce_pair()[1],
        )


def _page(response: httpx.Response, email: str) -> str:
    """The sign-in page with what differs per attempt (the typed address, the CSRF token) blanked."""
    page = response.text.replace(email, "EMAIL")
    return re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token" value=""', page)


async def test_known_and_unknown_addresses_are_locked_and_answered_alike(platform: Platform) -> None:
    organisation = await create_organisation(platform, "evaluator", "Alike")
    _, known, _ = await create_user(platform, organisation["id"], "member", label="known")
    unknown = unique_email("nobody")
    web = await web_client_id(platform)
    _, challenge = pkce_pair()
    answers: dict[str, list[httpx.Response]] = {known: [], unknown: []}
    timings: dict[str, list[float]] = {known: [], unknown: []}
    address = _address()
    for _ in range(6):
        for email in (known, unknown):
            started = time.perf_counter()
            answers[email].append(
                await _sign_in(
                    platform,
                    client_id=web,
                    email=email,
                    password="Wrong-Password-123",
                    address=address,
                    challenge=challenge,
                )
            )
            timings[email].append(time.perf_counter() - started)
    statuses = {email: [r.status_code for r in responses] for email, responses in answers.items()}
    assert statuses[known] == statuses[unknown] == [401] * 5 + [429]
    for known_answer, unknown_answer in zip(answers[known], answers[unknown], strict=True):
        assert _page(known_answer, known) == _page(unknown_answer, unknown)
        assert known_answer.headers.get("content-type") == unknown_answer.headers.get("content-type")
    known_wait = int(answers[known][-1].headers["retry-after"])
    unknown_wait = int(answers[unknown][-1].headers["retry-after"])
    assert 0 < known_wait <= 60
    assert abs(known_wait - unknown_wait) <= 1
    # Both cost a password hash when not locked (a dummy one for the unknown address): loose, since the
    # machine is shared, but an unknown address answering without hashing would be far quicker.
    assert statistics.median(timings[unknown][:5]) > 0.3 * statistics.median(timings[known][:5])


async def test_failed_sign_ins_from_one_address_are_throttled_with_retry_after(throttled: Platform) -> None:
    organisation = await create_organisation(throttled, "provider", "From one address")
    _, email, password = await create_user(throttled, organisation["id"], "member", label="crowded")
    web = await web_client_id(throttled)
    noisy, quiet = "203.0.113.7", "203.0.113.8"
    failures = [
        await _sign_in(
            throttled, client_id=web, email=unique_email("guess"), password="Wrong-Password-1", address=noisy
        )
        for _ in range(ADDRESS_LIMIT)
    ]
    assert [r.status_code for r in failures] == [401] * ADDRESS_LIMIT
    # Refused even with the right password, and without a password being checked.
    refused = await _sign_in(throttled, client_id=web, email=email, password=password, address=noisy)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= WINDOW
    assert "location" not in refused.headers
    # Another address is not affected.
    elsewhere = await _sign_in(throttled, client_id=web, email=email, password=password, address=quiet)
    assert elsewhere.status_code == 302


async def test_failed_sign_ins_at_one_client_are_throttled_across_addresses(throttled: Platform) -> None:
    organisation = await create_organisation(throttled, "investor", "One client")
    _, email, password = await create_user(throttled, organisation["id"], "member", label="client-wide")
    async with new_client(base_url=throttled.url("identity")) as identity:
        registered = await identity.post(
            f"/v1/organisations/{organisation['id']}/clients",
            json={
                "name": "Investor portal",
                "client_type": "public",
                "grant_types": ["authorization_code"],
                "redirect_uris": ["http://127.0.0.1/effekt-test/callback"],
                "scopes": ["openid"],
            },
            headers=await operator_headers(throttled),
        )
    assert registered.status_code == 201, registered.text
    portal = registered.json()["client_id"]
    # Spread over addresses, each below its own limit: only the client's counter fills.
    addresses = [f"192.0.2.{n}" for n in range(1, CLIENT_LIMIT + 1)]
    failures = [
        await _sign_in(throttled, client_id=portal, email=email, password="Wrong-Password-2", address=a)
        for a in addresses
    ]
    assert [r.status_code for r in failures] == [401] * CLIENT_LIMIT
    refused = await _sign_in(
        throttled, client_id=portal, email=email, password=password, address="192.0.2.99"
    )
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= WINDOW
    # The platform's other clients are not affected.
    web = await web_client_id(throttled)
    other = await _sign_in(throttled, client_id=web, email=email, password=password, address="192.0.2.100")
    assert other.status_code == 302
