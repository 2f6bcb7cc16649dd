"""The sign-in page over HTTP: its language, its words for each scope, and a Content-Security-Policy that
lets the form's answer redirect to the one registered redirect URI of the request and nowhere else."""

from __future__ import annotations

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.http import new_client
from services.identity.oauth.pages import SCOPE_WORDS, choose_language, redirect_origin
from services.identity.oauth.scopes import SCOPES
from tests.actors import REDIRECT_URI, Cast, pkce_pair
from tests.identity.test_oauth import code_flow_client


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "da"),
        ("", "da"),
        ("fr-FR, de;q=0.9", "da"),
        ("en-GB,en;q=0.9", "en"),
        ("da-DK,da;q=0.9,en;q=0.8", "da"),
        ("en;q=0.5, da;q=0.8", "da"),
        ("de, en;q=0.7, da;q=0.3", "en"),
        ("en;q=0, da;q=0.1", "da"),
        ("en;q=0.8, da;q=0.8", "en"),
        ("*", "da"),
        ("en;q=oops", "da"),
    ],
)
def test_the_language_follows_accept_language_with_danish_by_default(
    header: str | None, language: str
) -> None:
    assert choose_language(header) == language


def test_every_scope_has_plain_words_in_both_languages() -> None:
    assert set(SCOPE_WORDS) == set(SCOPES)
    for scope, words in SCOPE_WORDS.items():
        assert set(words) == {"da", "en"}, scope
        assert ":" not in words["da"] + words["en"], scope


@pytest.mark.parametrize(
    ("uri", "origin"),
    [
        ("https://console.example.dk/callback?x=1", "https://console.example.dk"),
        ("http://127.0.0.1:5173/cb", "http://127.0.0.1:5173"),
        ("http://[::1]:8080/cb", "http://[::1]:8080"),
        ("dk.effekt.app:/oauth", "dk.effekt.app:"),
        ("https://user@evil.example/cb", None),
        ("https://a.example;script-src *;/cb", None),
        ("https://a.example 'unsafe-inline'/cb", None),
        ("http://127.0.0.1:\uff15\uff11\uff17\uff13/cb", None),  # a port in fullwidth digits
    ],
)
def test_the_redirect_origin_is_a_csp_source_or_nothing(uri: str, origin: str | None) -> None:
    assert redirect_origin(uri) == origin


def _csp(response: httpx.Response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return {d.split()[0]: " ".join(d.split()[1:]) for d in (p.strip() for p in policy.split(";")) if d}


async def test_the_page_allows_only_the_requests_redirect_origin_and_names_client_and_scopes(
    platform: Platform, shared_cast: Cast
) -> None:
    client = await code_flow_client(platform, shared_cast)
    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": REDIRECT_URI,
        "scope": "openid outcomes:verify",
        "state": "s-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    async with new_client(base_url=platform.url("identity")) as browser:
        danish = await browser.get("/oauth2/authorize", params=params)
        english = await browser.get(
            "/oauth2/authorize", params=params, headers={"Accept-Language": "en-GB,en;q=0.9"}
        )
        wrong = await browser.get(
            "/oauth2/authorize", params={**params, "redirect_uri": "https://evil.example/"}
        )
    assert danish.status_code == 200, danish.text
    policy = _csp(danish)
    assert policy["form-action"] == "'self' http://127.0.0.1"
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert danish.headers["x-frame-options"] == "DENY"
    assert '<html lang="da">' in danish.text
    assert "Provider portal" in danish.text
    assert "godkende eller afvise indberettede resultater" in danish.text
    assert '<label for="password">Adgangskode</label>' in danish.text
    assert '<html lang="en">' in english.text
    assert "approve or reject reported outcomes" in english.text
    # An unregistered redirect URI gets the error page, whose form-action admits nothing but identity.
    assert wrong.status_code == 400
    assert _csp(wrong)["form-action"] == "'self'"
    assert "evil.example" not in wrong.headers["content-security-policy"]


async def test_a_login_hint_fills_in_the_address_and_focus_waits_in_the_password_field(
    platform: Platform, shared_cast: Cast
) -> None:
    client = await code_flow_client(platform, shared_cast)
    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": REDIRECT_URI,
        "scope": "openid",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "login_hint": 'anna@herning.dk"><script>',
    }
    async with new_client(base_url=platform.url("identity")) as browser:
        page = await browser.get("/oauth2/authorize", params=params)
    assert page.status_code == 200
    assert 'value="anna@herning.dk&quot;&gt;&lt;script&gt;"' in page.text
    assert "<script>" not in page.text
    password = page.text[page.text.index('id="password"') :].split(">")[0]
    assert "autofocus" in password
