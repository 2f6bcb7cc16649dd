"""The services' OpenAPI documents as an integrator's tools take them: validated by `openapi-spec-validator`,
turned into a client by `openapi-python-client`, and that client making real, authenticated calls; the
scopes an operation documents are the scopes it enforces."""

from __future__ import annotations

import importlib
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from effekt.launcher import Platform
from effekt.sandbox.http import new_client
from effekt.sandbox.identifiers import synthetic_cpr
from tests.actors import Cast, token_for
from tests.outcomes.support import TODAY, active_contract, claim, confirm, employment_terms, enrol, key

SERVICES = ("identity", "contracts", "outcomes")
# What anyone may call without a token: probes, the OAuth2 endpoints themselves, discovery and keys.
PUBLIC = {
    "/healthz",
    "/readyz",
    "/oauth2/token",
    "/oauth2/introspect",
    "/oauth2/revoke",
    "/oauth2/authorize",
    "/oauth2/logout",
    "/v1/cors-origins",
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
    "/jwks.json",
    # Open data: the published `public` blocks, without a token (docs/open-data.md).
    "/v1/public/partnerships/{partnership_id}/indigo",
    "/v1/public/contracts/{contract_id}/ocds-record",
}


async def _document(platform: Platform, name: str) -> dict[str, Any]:
    async with new_client(base_url=platform.url(name)) as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in document["paths"].items() for method, op in ops.items()]


def _documented_scopes(document: dict[str, Any], path: str, method: str) -> list[set[str]]:
    security = document["paths"][path][method]["security"]
    return [set(requirement["oauth2"]) for requirement in security if "oauth2" in requirement]


@pytest.mark.parametrize("name", SERVICES)
async def test_each_document_passes_an_off_the_shelf_validator(platform: Platform, name: str) -> None:
    document = await _document(platform, name)
    validate(document)  # raises on the first violation of the OpenAPI 3.1 schema
    assert all("__" not in schema and "." not in schema for schema in document["components"]["schemas"])


@pytest.mark.parametrize("name", SERVICES)
async def test_security_schemes_name_identitys_endpoints_and_every_scope_an_operation_needs(
    platform: Platform, name: str
) -> None:
    document = await _document(platform, name)
    async with new_client(base_url=platform.url("identity")) as identity:
        discovery = (await identity.get("/.well-known/oauth-authorization-server")).json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    flows = schemes["oauth2"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == discovery["token_endpoint"]
    assert flows["authorizationCode"]["tokenUrl"] == discovery["token_endpoint"]
    assert flows["authorizationCode"]["authorizationUrl"] == discovery["authorization_endpoint"]
    for path, method, operation in _operations(document):
        if path in PUBLIC:
            assert "security" not in operation, (path, method)
            continue
        assert operation["security"], (path, method)
        for requirement in operation["security"]:
            (scheme, scopes), *_ = requirement.items()
            assert scheme in schemes
            assert set(scopes) <= set(flows["clientCredentials"]["scopes"]), (path, method)


async def test_headers_are_declared_where_sent_and_optional_ones_are_plain(platform: Platform) -> None:
    document = await _document(platform, "outcomes")
    paths = document["paths"]
    submit = paths["/v1/outcome-claims"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in submit["parameters"] if p["in"] == "header"}
    assert set(submit["responses"]["201"]["headers"]) == {"ETag", "Location"}
    verify = paths["/v1/outcome-claims/{claim_id}/verification"]["post"]
    if_match = next(p for p in verify["parameters"] if p["name"] == "If-Match")
    assert if_match["schema"]["type"] == "string"
    assert "ETag" in verify["responses"]["200"]["headers"]
    assert "Feed-Cursor" in paths["/v1/feed"]["get"]["responses"]["200"]["headers"]
    for path, method, operation in _operations(document):
        assert "Retry-After" in operation["responses"]["503"]["headers"], (path, method)
        for parameter in operation.get("parameters", []):
            if not parameter.get("required"):
                assert {"type": "null"} not in parameter["schema"].get("anyOf", []), (path, parameter)


async def test_swagger_ui_offers_identitys_sign_in_with_pkce(platform: Platform) -> None:
    async with new_client(base_url=platform.url("outcomes")) as client:
        page = await client.get("/docs")
    assert page.status_code == 200
    assert "/openapi.json" in page.text
    assert "oauth2RedirectUrl" in page.text
    assert '"usePkceWithAuthorizationCodeGrant": true' in page.text


async def test_verifying_a_claim_needs_exactly_the_scopes_its_operation_documents(
    platform: Platform, cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    document = await _document(platform, "outcomes")
    (documented,) = _documented_scopes(document, "/v1/outcome-claims/{claim_id}/verification", "post")
    assert documented == {"outcomes:verify", "contracts:read"}
    claim_id = await _claim_to_verify(cast, contracts, outcomes)
    for missing in sorted(documented):
        fewer = await token_for(platform, cast.payer_a, " ".join(sorted(documented - {missing})))
        refused = await _verify(outcomes, fewer, claim_id)
        assert refused.status_code == 403, refused.text
        assert refused.json()["required_scope"] == missing
    exact = await token_for(platform, cast.payer_a, " ".join(sorted(documented)))
    verified = await _verify(outcomes, exact, claim_id)
    assert verified.status_code == 200, verified.text
    assert verified.json()["status"] == "verified"


async def _claim_to_verify(cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient) -> str:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    participant = await enrol(
        outcomes,
        cast.provider,
        cast,
        contract_id,
        synthetic_cpr(7),
        municipality_code="657",
        enrolment_date=TODAY - timedelta(days=100),
    )
    await confirm(outcomes, cast.payer_a, participant["id"])
    claimed = await claim(outcomes, cast.provider, participant["id"], "job_start", TODAY - timedelta(days=50))
    return str(claimed["id"])


async def _verify(outcomes: httpx.AsyncClient, token: str, claim_id: str) -> httpx.Response:
    return await outcomes.post(
        f"/v1/outcome-claims/{claim_id}/verification",
        json={"decision": "verified"},
        headers={"Authorization": f"Bearer {token}", **key()},
    )


def _generate_client(document_url: str, into: Path, package: str) -> Any:
    """Generate a client package with openapi-python-client, offline, and import it."""
    document = httpx.get(document_url)
    source = into / "openapi.json"
    source.write_bytes(document.content)
    config = into / "generator.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run: the generated code is used as generated
    subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(source),
            "--output-path",
            str(into / package),
            "--meta",
            "none",
            "--config",
            str(config),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    sys.path.insert(0, str(into))
    try:
        return importlib.import_module(package)
    finally:
        sys.path.remove(str(into))


async def test_a_generated_client_reads_and_verifies_with_a_token(
    platform: Platform, cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient, tmp_path: Path
) -> None:
    package = "effekt_outcomes_generated"
    client_package = _generate_client(f"{platform.url('outcomes')}/openapi.json", tmp_path, package)
    claim_id = await _claim_to_verify(cast, contracts, outcomes)
    get_claim = importlib.import_module(f"{package}.api.outcomes.get_claim")
    verify_claim = importlib.import_module(f"{package}.api.outcomes.verify_claim")
    models = importlib.import_module(f"{package}.models")

    token = await token_for(platform, cast.payer_a, "outcomes:read outcomes:verify contracts:read")
    async with client_package.AuthenticatedClient(base_url=platform.url("outcomes"), token=token) as client:
        read = await get_claim.asyncio_detailed(claim_id=claim_id, client=client)
        assert read.status_code == 200
        assert isinstance(read.parsed, models.ClaimRead)
        assert read.parsed.status == "claimed"
        decided = await verify_claim.asyncio_detailed(
            claim_id=claim_id,
            client=client,
            body=models.Decision(decision=models.DecisionDecision.VERIFIED),
            if_match=read.headers["ETag"],
            idempotency_key=f"generated-{claim_id}",
        )
    assert decided.status_code == 200, decided.content
    assert isinstance(decided.parsed, models.ClaimRead)
    assert decided.parsed.status == "verified"
    assert decided.parsed.payable == "25000.00"

    async with client_package.Client(base_url=platform.url("outcomes")) as anonymous:
        refused = await get_claim.asyncio_detailed(claim_id=claim_id, client=anonymous)
    assert refused.status_code == 401
    assert isinstance(refused.parsed, models.ProblemDetail)
