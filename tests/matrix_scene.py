"""The scene the authorisation matrix plays in: one shared cast, a real row behind every path parameter,
and the caller kinds that hold no valid standing (anonymous, expired, revoked).

The expired token is a real token of the cast, re-signed by identity's own active key with an `exp` in the
past (read from identity's database with the service's secret, as identity itself would), so services
refuse it for its expiry and not for a bad signature.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import httpx

from effekt.launcher import Platform
from effekt.sandbox.http import new_client
from effekt.sandbox.identifiers import synthetic_cpr
from kit.settings import DEV_SECRET
from services.identity.models import SigningKey
from services.identity.oauth.keys import SigningKeys
from tests.actors import (
    PASSWORD,
    Cast,
    add_membership,
    bearer,
    claims_of,
    create_machine_client,
    create_organisation,
    create_user,
    random_cvr,
    token_for,
    unique_email,
    user_actor,
)
from tests.outcomes.support import (
    TODAY,
    active_contract,
    check,
    claim,
    confirm,
    employment_terms,
    enrol,
    key,
    quarter,
)


@dataclass(frozen=True)
class Scene:
    """Who calls (caller kind -> Authorization headers) and what a path parameter names."""

    callers: dict[str, dict[str, str]]
    ids: dict[str, str]
    partnership_id: str
    # A valid body per write, so the request reaches the caller's rights rather than stopping at validation.
    bodies: dict[str, Any]


async def expired_token(platform: Platform, token: str) -> str:
    """`token`'s claims signed again by identity's active key, expired a minute ago."""
    url = platform.database_urls["identity"].replace("+asyncpg", "")  # type: ignore[attr-defined]
    connection = await asyncpg.connect(url)
    try:
        row = await connection.fetchrow(
            "SELECT kid, private_key_encrypted FROM signing_keys WHERE status = 'active'"
        )
    finally:
        await connection.close()
    assert row is not None
    ring = SigningKeys(platform.env.get("IDENTITY_SECRET_KEY", DEV_SECRET))
    signer = ring.open(SigningKey(kid=row["kid"], private_key_encrypted=row["private_key_encrypted"]))
    claims = claims_of(token)
    now = int(time.time())
    claims.update(iat=now - 1000, nbf=now - 1000, exp=now - 60, jti=uuid.uuid4().hex)
    return signer.sign(claims)


async def revoked_token(platform: Platform, cast: Cast, client: httpx.AsyncClient) -> str:
    """A fresh machine token the client revoked itself, once every service has heard of it."""
    machine = cast.investor_machine
    assert machine.client_id
    assert machine.client_secret
    token = await token_for(platform, machine)
    revoked = await client.post(
        platform.url("identity") + "/oauth2/revoke",
        data={"token": token},
        auth=(machine.client_id, machine.client_secret),
    )
    assert revoked.status_code == 200, revoked.text
    probes = {
        "identity": "/oauth2/userinfo",
        "contracts": f"/v1/contracts?partnership_id={cast.partnership_id}",
        "outcomes": f"/v1/participants?partnership_id={cast.partnership_id}",
    }
    deadline = time.monotonic() + 20
    for service, path in probes.items():
        while (await client.get(platform.url(service) + path, headers=bearer(token))).status_code != 401:
            assert time.monotonic() < deadline, f"{service} still accepts a revoked token"
            await asyncio.sleep(0.1)
    return token


async def build_scene(platform: Platform, cast: Cast, client: httpx.AsyncClient) -> Scene:
    """Real rows for every path parameter the three services take, made through their public APIs."""
    contracts, outcomes = platform.url("contracts"), platform.url("outcomes")
    async with new_client(base_url=contracts, timeout=30) as registry:
        contract_id, _ = await active_contract(registry, cast, employment_terms(cast))
    # A second contract left in draft: the version operations act on it (terminating or proposing it
    # changes nothing the other cases read).
    draft = check(
        await client.post(
            contracts + "/v1/contracts",
            json={"partnership_id": str(cast.partnership_id), "terms": employment_terms(cast)},
            headers={**cast.provider.headers, **key()},
        ),
        201,
    )
    version_id = draft["versions"][0]["id"]
    attachment = check(
        await client.post(
            contracts + f"/v1/contract-versions/{version_id}/attachments",
            params={"filename": "bilag.pdf"},
            content=b"%PDF-1.7 matrix",
            headers={**cast.provider.headers, **key(), "Content-Type": "application/pdf"},
        ),
        201,
    )
    # An outcome fund, a payer of the partnership without residents, that pays for none of the scene's
    # claims: it must find none of their rows (services/outcomes/access.py).
    fund_org = await create_organisation(
        platform,
        "outcome_funder",
        f"Matrix Fund {uuid.uuid4().hex[:6]}",
        identifier=f"GB-GOR-EA{secrets.randbelow(9000) + 1000}",
    )
    await add_membership(platform, cast.partnership_id, fund_org["id"], "outcome_payer")
    fund = await user_actor(platform, fund_org, "signatory", "matrix-fund")
    async with new_client(base_url=outcomes, timeout=30) as out:
        person = await enrol(
            out,
            cast.provider,
            cast,
            contract_id,
            synthetic_cpr(1),
            municipality_code="657",
            enrolment_date=TODAY - timedelta(days=30),
        )
        await confirm(out, cast.payer_a, person["id"])
        made = await claim(out, cast.provider, person["id"], "job_start", TODAY - timedelta(days=1))
    # Open data: a publication, so the public read has something to answer (docs/open-data.md).
    check(
        await client.post(
            contracts + f"/v1/partnerships/{cast.partnership_id}/publications",
            headers={**cast.payer_a.headers, **key()},
        ),
        201,
    )
    start, end = quarter(TODAY)
    statement_body = {
        "contract_id": str(contract_id),
        "payer_organisation_id": str(cast.payer_a.organisation_id),
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
    }
    statement = check(
        await client.post(
            outcomes + "/v1/payment-statements",
            json=statement_body,
            headers={**cast.payer_a.headers, **key()},
        ),
        201,
    )
    subscription = check(
        await client.post(
            outcomes + "/v1/webhook-subscriptions",
            json={"partnership_id": str(cast.partnership_id), "url": "https://hooks.example/effekt"},
            headers={**cast.provider.headers, **key()},
        ),
        201,
    )
    # Targets the destructive operations may remove without taking a caller's standing with them.
    spare_org = await create_organisation(platform, "provider", f"Reserve {uuid.uuid4().hex[:6]}")
    spare_membership = await add_membership(platform, cast.partnership_id, spare_org["id"], "observer")
    spare_user, _, _ = await create_user(platform, cast.provider.organisation_id, "member", label="spare")
    spare_client = await create_machine_client(platform, cast.provider.organisation_id, name="spare")
    ids = {
        "partnership_id": str(cast.partnership_id),
        "organisation_id": str(cast.provider.organisation_id),
        "spare_organisation_id": str(spare_org["id"]),
        "user_id": str(spare_user["id"]),
        "membership_id": str(spare_membership["id"]),
        "client_id": str(spare_client["id"]),
        "kid": "no-such-key",
        "contract_id": str(contract_id),
        "version_id": version_id,
        "attachment_id": attachment["id"],
        "participant_id": person["id"],
        "claim_id": made["id"],
        "statement_id": statement["id"],
        "subscription_id": subscription["id"],
        # No grant, delivery or audit exists in the scene: these name nothing, and every caller gets 404 at
        # best (still checked: nobody without standing gets past authentication).
        "grant_id": str(uuid.uuid4()),
        "delivery_id": str(uuid.uuid4()),
        "audit_id": str(uuid.uuid4()),
    }
    expired, revoked = await asyncio.gather(
        expired_token(platform, cast.payer_a.token), revoked_token(platform, cast, client)
    )
    callers: dict[str, dict[str, str]] = {
        "anonymous": {},
        "expired": bearer(expired),
        "revoked": bearer(revoked),
        "outsider": cast.outsider.headers,
        "payer": cast.payer_a.headers,
        "funder": fund.headers,
        "provider": cast.provider.headers,
        "provider_member": cast.provider_member.headers,
        "investor": cast.investor.headers,
        "evaluator": cast.evaluator.headers,
        "adviser": cast.adviser.headers,
        "observer": cast.observer.headers,
        "operator": cast.operator.headers,
    }
    return Scene(
        callers=callers,
        ids=ids,
        partnership_id=str(cast.partnership_id),
        bodies=bodies(cast, ids, statement_body),
    )


def bodies(cast: Cast, ids: dict[str, str], statement: dict[str, Any]) -> dict[str, Any]:
    """Valid bodies for the writes that validate their body before the caller's rights."""
    partnership = str(cast.partnership_id)
    terms = employment_terms(cast)
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    return {
        "identity POST /v1/organisations": {
            "name": "Matrix ApS",
            "partner_type": "provider",
            "cvr": random_cvr(),
        },
        "identity PATCH /v1/organisations/{organisation_id}": {"name": "Jobhuset (omdøbt)"},
        "identity POST /v1/organisations/{organisation_id}/users": {
            "email": unique_email("matrix"),
            "display_name": "Matrix User",
            "org_role": "member",
            "password": PASSWORD,
        },
        "identity PUT /v1/users/{user_id}/password": {"new_password": PASSWORD + "-2"},
        "identity POST /v1/partnerships": {"name": "Matrix partnership", "description": "made by the matrix"},
        "identity POST /v1/partnerships/{partnership_id}/memberships": {
            "organisation_id": ids["spare_organisation_id"],
            "role": "evaluator",
        },
        "identity POST /v1/partnerships/{partnership_id}/membership-grants": {
            "organisation_id": ids["spare_organisation_id"],
            "role": "adviser",
        },
        "identity POST /v1/organisations/{organisation_id}/clients": {
            "name": "matrix",
            "client_type": "confidential",
            "grant_types": ["client_credentials"],
            "scopes": ["outcomes:read"],
        },
        "contracts POST /v1/contracts": {"partnership_id": partnership, "terms": terms},
        "contracts PUT /v1/contract-versions/{version_id}/terms": terms,
        "contracts POST /v1/contract-versions/{version_id}/termination": {
            "effective_on": TODAY.isoformat(),
            "reason": "the matrix ends it",
        },
        "outcomes POST /v1/participants": {
            "partnership_id": partnership,
            "contract_id": ids["contract_id"],
            "cpr": synthetic_cpr(2),
            "municipality_code": "657",
            "enrolment_date": yesterday,
        },
        "outcomes POST /v1/participants/{participant_id}/exit": {"exit_date": yesterday, "reason": "moved"},
        "outcomes POST /v1/erasures": {"kind": "participant", "participant_id": ids["participant_id"]},
        "outcomes POST /v1/outcome-claims": {
            "participant_id": ids["participant_id"],
            "outcome_code": "job_start",
            "achievement_date": yesterday,
            "evidence_reference": "eIndkomst extract",
        },
        "outcomes POST /v1/outcome-claims/{claim_id}/verification": {"decision": "verified"},
        "outcomes POST /v1/outcome-claims/{claim_id}/dispute": {"reason": "the hours are wrong"},
        "outcomes POST /v1/outcome-claims/{claim_id}/dispute-resolution": {"decision": "verified"},
        "outcomes POST /v1/payment-statements": statement,
        "outcomes POST /v1/payment-audits": statement,
        "outcomes POST /v1/payment-audits/{audit_id}/findings": {
            "findings": [{"claim_id": ids["claim_id"], "finding": "valid"}]
        },
        "outcomes POST /v1/payment-audits/{audit_id}/disputes": {
            "claim_id": ids["claim_id"],
            "reason": "the evidence shows it",
        },
        "outcomes POST /v1/cohort-payments": {
            "contract_id": ids["contract_id"],
            "cohort_outcome_code": "employment_savings",
            "cohort": "matrix",
            "period_start": yesterday,
            "period_end": yesterday,
            "cohort_size": 10,
            "comparison_size": 10,
            "figures": [{"code": "benefits_paid", "cohort": "1.00", "comparison": "2.00"}],
        },
        "outcomes POST /v1/cohort-payments/{cohort_payment_id}/decision": {"decision": "approved"},
        "outcomes POST /v1/webhook-subscriptions": {
            "partnership_id": partnership,
            "url": "https://hooks.example/m",
        },
    }


def request_for(key: str, operation: dict[str, Any], scene: Scene) -> tuple[str, dict[str, Any]]:
    """The concrete path and httpx keyword arguments for one documented operation."""
    path = key.split(" ", 2)[2]
    params: dict[str, str] = {}
    # Required query parameters that are not ids of their own name.
    values = {
        **scene.ids,
        "ids": scene.ids["version_id"],
        "from": scene.ids["version_id"],
        "filename": "x.pdf",
    }
    for parameter in operation.get("parameters", []):
        name = parameter["name"]
        if parameter["in"] == "path":
            path = path.replace("{" + name + "}", scene.ids.get(name, str(uuid.uuid4())))
        elif parameter["in"] == "query" and (parameter.get("required") or name in scene.ids):
            params[name] = values.get(name, str(uuid.uuid4()))
    kwargs: dict[str, Any] = {"params": params}
    if "requestBody" in operation:
        kwargs["json"] = scene.bodies.get(key, {})
    return path, kwargs
