"""Organisations beyond Denmark: org-id style identifiers (`GB-COH-01234567`), checked per scheme and
shown by identity; a CVR still checked modulus 11 and still accepted and shown as before; and national
agencies or outcome funds as a partner type of their own, which has no municipality code."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.http import new_client
from tests.actors import operator_headers, random_cvr


@pytest.fixture
async def identity(platform: Platform) -> Any:
    async with new_client(base_url=platform.url("identity"), timeout=30.0) as client:
        yield client


async def _create(identity: httpx.AsyncClient, platform: Platform, **body: Any) -> httpx.Response:
    body = {"name": f"Org {secrets.token_hex(4)}", "partner_type": "provider", **body}
    return await identity.post("/v1/organisations", json=body, headers=await operator_headers(platform))


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("GB-COH-01234567", "GB-COH-01234567"),  # a company registered with Companies House
        ("gb-chc-1123456", "GB-CHC-1123456"),  # a charity, written in lower case
        ("NO-BRC-974760673", "NO-BRC-974760673"),  # a Norwegian organisation number (modulus 11)
        ("XI-LEI-5493001KJTIIGC8Y1R12", "XI-LEI-5493001KJTIIGC8Y1R12"),  # a legal entity identifier
    ],
)
async def test_an_organisation_is_identified_by_its_register_and_shown_so(
    platform: Platform, identity: httpx.AsyncClient, given: str, stored: str
) -> None:
    created = await _create(identity, platform, identifier=given)
    assert created.status_code == 201, created.text
    assert (created.json()["identifier"], created.json()["cvr"]) == (stored, None)
    read = await identity.get(
        f"/v1/organisations/{created.json()['id']}", headers=await operator_headers(platform)
    )
    assert (read.json()["identifier"], read.json()["cvr"]) == (stored, None)


async def test_a_cvr_is_still_accepted_and_is_the_danish_identifier(
    platform: Platform, identity: httpx.AsyncClient
) -> None:
    cvr = random_cvr()
    by_cvr = await _create(identity, platform, cvr=cvr)
    assert by_cvr.status_code == 201, by_cvr.text
    assert (by_cvr.json()["identifier"], by_cvr.json()["cvr"]) == (f"DK-CVR-{cvr}", cvr)
    by_identifier = await _create(identity, platform, identifier=f"DK-CVR-{cvr}")
    assert (by_identifier.json()["identifier"], by_identifier.json()["cvr"]) == (f"DK-CVR-{cvr}", cvr)
    both = await _create(identity, platform, identifier=f"DK-CVR-{cvr}", cvr=cvr)
    assert both.status_code == 201, both.text


@pytest.mark.parametrize(
    ("body", "field", "code", "words"),
    [
        ({"identifier": "DK-CVR-29403472"}, "body.identifier", "invalid-identifier", "check digit"),
        ({"identifier": "DK-CRV-29403473"}, "body.identifier", "invalid-identifier",
         "did you mean `DK-CVR`?"),
        ({"identifier": "GB-COH-1234"}, "body.identifier", "invalid-identifier", "Companies House"),
        ({"identifier": "NO-BRC-974760674"}, "body.identifier", "invalid-identifier", "check digit"),
        ({"identifier": "01234567"}, "body.identifier", "invalid-identifier", "<scheme>-<identifier>"),
        ({"identifier": "ZZ-ABC-1"}, "body.identifier", "invalid-identifier", "known schemes"),
        ({}, "body.identifier", "invalid-identifier", "or its CVR"),
        ({"cvr": "29403472"}, "body.cvr", "invalid-cvr", "modulus-11"),
        ({"cvr": "29403473", "identifier": "GB-COH-01234567"}, "body.identifier", "invalid-identifier",
         "DK-CVR-29403473"),
    ],
)  # fmt: skip
async def test_an_identifier_a_register_would_not_know_is_refused(
    platform: Platform, identity: httpx.AsyncClient, body: dict[str, Any], field: str, code: str, words: str
) -> None:
    name = f"Refused {secrets.token_hex(4)}"
    response = await _create(identity, platform, name=name, **body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    (param,) = response.json()["invalid_params"]
    assert param["name"] == field, param
    assert words in param["reason"], param
    listing = await identity.get(
        "/v1/organisations",
        params={"limit": 500, "partner_type": "provider"},
        headers=await operator_headers(platform),
    )
    assert name not in {o["name"] for o in listing.json()["items"]}


async def test_an_outcome_funder_has_no_municipality_code(
    platform: Platform, identity: httpx.AsyncClient
) -> None:
    fund = await _create(identity, platform, partner_type="outcome_funder", identifier="GB-GOR-PB123")
    assert fund.status_code == 201, fund.text
    assert (fund.json()["partner_type"], fund.json()["municipality_code"]) == ("outcome_funder", None)
    with_code = await _create(
        identity, platform, partner_type="outcome_funder", identifier="GB-GOR-PB124", municipality_code="657"
    )
    assert with_code.status_code == 422, with_code.text
    assert with_code.json()["invalid_params"][0]["name"] == "body.municipality_code"
    listed = await identity.get(
        "/v1/organisations", params={"partner_type": "outcome_funder", "limit": 500},
        headers=await operator_headers(platform),
    )  # fmt: skip
    assert fund.json()["id"] in {o["id"] for o in listed.json()["items"]}
