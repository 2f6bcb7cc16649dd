"""Partner types as the client sees them: who am I, and in which partnerships."""

from __future__ import annotations

import enum
from uuid import UUID

import strawberry
from strawberry.types import Info

from gateway.context import Context


@strawberry.enum
class PartnerType(enum.Enum):
    MUNICIPALITY = "municipality"
    PROVIDER = "provider"
    INVESTOR = "investor"
    EVALUATOR = "evaluator"
    LEGAL_ADVISER = "legal_adviser"
    OPERATOR = "operator"


@strawberry.type
class Membership:
    partnership_id: UUID
    roles: list[str]


@strawberry.type
class Me:
    subject: str
    kind: str
    organisation_id: UUID
    partner_type: PartnerType
    scopes: list[str]
    memberships: list[Membership]


@strawberry.type
class PartnerQuery:
    @strawberry.field(description="The caller: a user or machine client, its organisation and memberships.")
    def me(self, info: Info[Context, None]) -> Me:
        p = info.context.principal
        return Me(
            subject=p.subject,
            kind=p.kind,
            organisation_id=p.organisation_id,
            partner_type=PartnerType(p.partner_type),
            scopes=sorted(p.scopes),
            memberships=[
                Membership(partnership_id=pid, roles=sorted(roles)) for pid, roles in p.memberships.items()
            ],
        )
