"""Who acts on the platform: real organisations, users and machine clients made through identity's HTTP
API, each holding a real access token (people through authorisation code + PKCE, machines through client
credentials).

`make_cast(platform)` builds a brand-new partnership with one organisation per role (about 60 calls and 10
sign-ins: seconds); `token_for` mints a fresh token for an actor (with fewer scopes, say, or after its
memberships changed).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from effekt.launcher import Platform
from effekt.sandbox.directory import (
    add_membership,
    client_credentials_token,
    create_machine_client,
    create_organisation,
    create_partnership,
    create_user,
    operator_organisation,
    user_token,
)
from effekt.sandbox.identifiers import HERNING, VIBORG
from effekt.sandbox.signin import MACHINE_SCOPES, USER_SCOPES
from effekt.sandbox.terms import Parties

T = TypeVar("T")
# Steps of a cast in flight at once (see `_at_most`): identity's pooled connections in the sandbox.
CONCURRENCY = 6


@dataclass(frozen=True)
class Actor:
    organisation_id: UUID
    partner_type: str
    token: str
    user_id: UUID | None = None
    municipality_code: str | None = None
    # How to mint another token for this actor (`token_for`).
    email: str | None = None
    password: str | None = None
    client_id: str | None = None
    client_secret: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class Cast:
    partnership_id: UUID
    payer_a: Actor
    payer_b: Actor
    provider: Actor
    investor: Actor
    evaluator: Actor
    adviser: Actor
    observer: Actor
    operator: Actor
    outsider: Actor
    provider_member: Actor
    provider_machine: Actor
    investor_machine: Actor

    @property
    def parties(self) -> Parties:
        """The standard contract's parties (see `effekt.sandbox.terms`)."""
        return Parties(
            self.payer_a.organisation_id,
            self.payer_b.organisation_id,
            self.provider.organisation_id,
            self.investor.organisation_id,
        )


async def token_for(platform: Platform, actor: Actor, scopes: str | None = None) -> str:
    """A fresh access token for the actor (with `scopes`, or everything its kind may hold)."""
    if actor.email and actor.password:
        token = await user_token(platform, actor.email, actor.password, scopes=scopes or USER_SCOPES)
    elif actor.client_id and actor.client_secret:
        token = await client_credentials_token(platform, actor.client_id, actor.client_secret, scopes)
    else:
        raise ValueError("this actor carries no credentials")
    return str(token["access_token"])


async def user_actor(platform: Platform, organisation: dict[str, Any], org_role: str, label: str) -> Actor:
    user, email, password = await create_user(platform, organisation["id"], org_role, label=label)
    token = await user_token(platform, email, password)
    return Actor(
        organisation_id=UUID(organisation["id"]),
        partner_type=organisation["partner_type"],
        token=token["access_token"],
        user_id=UUID(user["id"]),
        municipality_code=organisation.get("municipality_code"),
        email=email,
        password=password,
    )


async def machine_actor(
    platform: Platform, organisation: dict[str, Any], scopes: str = MACHINE_SCOPES
) -> Actor:
    client = await create_machine_client(platform, organisation["id"], scopes=scopes)
    token = await client_credentials_token(platform, client["client_id"], client["client_secret"])
    return Actor(
        organisation_id=UUID(organisation["id"]),
        partner_type=organisation["partner_type"],
        token=token["access_token"],
        municipality_code=organisation.get("municipality_code"),
        client_id=client["client_id"],
        client_secret=client["client_secret"],
    )


async def _at_most(limit: int, *steps: Awaitable[T]) -> list[T]:
    """The steps' results in order, at most `limit` of them in flight: identity keeps a few pooled database
    connections (six in the sandbox), and a burst beyond them opens and closes a connection per request,
    which cost a cast more than its requests."""
    gate = asyncio.Semaphore(limit)

    async def step(awaitable: Awaitable[T]) -> T:
        async with gate:
            return await awaitable

    return list(await asyncio.gather(*(step(s) for s in steps)))


async def make_cast(platform: Platform) -> Cast:
    """A brand-new partnership with one organisation per role, their users and machine clients."""
    tag = secrets.token_hex(3)
    partnership = await create_partnership(
        platform, f"Job First {tag}", "Refugees into work, paid on outcomes"
    )
    partnership_id = UUID(partnership["id"])
    (
        herning,
        viborg,
        provider,
        investor,
        evaluator,
        adviser,
        observer,
        outsider,
        operator_org,
    ) = await _at_most(
        CONCURRENCY,
        create_organisation(platform, "municipality", f"Herning Kommune {tag}", municipality_code=HERNING),
        create_organisation(platform, "municipality", f"Viborg Kommune {tag}", municipality_code=VIBORG),
        create_organisation(platform, "provider", f"Jobhuset {tag}"),
        create_organisation(platform, "investor", f"Fonden for Social Investering {tag}"),
        create_organisation(platform, "evaluator", f"Evalueringsinstituttet {tag}"),
        create_organisation(platform, "legal_adviser", f"Advokatfirma {tag}"),
        create_organisation(platform, "provider", f"Observatoriet {tag}"),
        create_organisation(platform, "provider", f"Udenforstående {tag}"),
        operator_organisation(platform),
    )
    await _at_most(
        CONCURRENCY,
        add_membership(platform, partnership_id, herning["id"], "outcome_payer"),
        add_membership(platform, partnership_id, viborg["id"], "outcome_payer"),
        add_membership(platform, partnership_id, provider["id"], "provider"),
        add_membership(platform, partnership_id, investor["id"], "investor"),
        add_membership(platform, partnership_id, evaluator["id"], "evaluator"),
        add_membership(platform, partnership_id, adviser["id"], "adviser"),
        add_membership(platform, partnership_id, observer["id"], "observer"),
    )
    actors = await _at_most(
        CONCURRENCY,
        user_actor(platform, herning, "signatory", "herning-signatory"),
        user_actor(platform, viborg, "signatory", "viborg-signatory"),
        user_actor(platform, provider, "signatory", "provider-signatory"),
        user_actor(platform, investor, "signatory", "investor-signatory"),
        user_actor(platform, evaluator, "member", "evaluator-member"),
        user_actor(platform, adviser, "member", "adviser-member"),
        user_actor(platform, observer, "member", "observer-member"),
        user_actor(platform, operator_org, "admin", "operator-admin"),
        user_actor(platform, outsider, "signatory", "outsider-signatory"),
        user_actor(platform, provider, "member", "provider-member"),
        machine_actor(platform, provider),
        machine_actor(platform, investor),
    )
    return Cast(partnership_id, *actors)
