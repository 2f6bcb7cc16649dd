"""Partners as the client sees them: who am I, my partnerships, their members, and — from a partnership —
everything the caller's partner type may see of it (its contracts, participants, claims, outcome summary,
statements and ledger). Backed by identity, with the partnership's other fields resolved through the
contracts and outcomes modules."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from gateway import policy
from gateway.claims import Claim, ClaimStatus, claims_page
from gateway.clients.identity import MembershipGrantRow, MembershipRow, OrganisationRow, PartnershipRow
from gateway.context import Context
from gateway.contracts import Contract
from gateway.disclosure import Disclosure, disclosure_of, indigo_of
from gateway.ledger import ChainStatus, LedgerEvent, ledger_page
from gateway.participants import Participant, participants_page
from gateway.relay import DEFAULT_FIRST, Connection, GlobalNode, check_first, from_page, uuid_of, uuid_or_none
from gateway.results import Done, Result, attempt
from gateway.roles import MembershipRole, PartnerType
from gateway.rows import from_row
from gateway.statements import Statement
from gateway.summary import OutcomeSummary
from gateway.webhooks import WebhookSubscription, subscriptions_of_organisation
from kit.pagination import encode_cursor


@strawberry.type
class Organisation(GlobalNode):
    uuid: UUID = strawberry.field(description="The raw UUID, as REST and the events name this object.")
    name: str
    partner_type: PartnerType
    identifier: str = strawberry.field(
        description="org-id style `<scheme>-<identifier>`, e.g. `DK-CVR-29403473`, `GB-COH-01234567`"
    )
    cvr: str | None = strawberry.field(
        description="The CVR number of an organisation identified by one (`DK-CVR-...`), else null"
    )
    municipality_code: str | None

    @classmethod
    def from_row(cls, row: OrganisationRow) -> Organisation:
        return from_row(cls, row)


@strawberry.type(description="An organisation's role in a partnership.")
class Member:
    id: UUID
    organisation_id: UUID
    role: MembershipRole
    created_at: datetime

    @classmethod
    def from_row(cls, row: MembershipRow) -> Member:
        return from_row(cls, row)

    @strawberry.field
    async def organisation(self, info: Info[Context, None]) -> Organisation | None:
        row = await info.context.loaders.organisation.load(self.organisation_id)
        return Organisation.from_row(row) if row else None


@strawberry.enum
class MembershipGrantStatus(enum.Enum):
    PENDING = "pending"
    GRANTED = "granted"
    DECLINED = "declined"


@strawberry.type(
    description="A proposed role for an organisation, taking effect when every outcome payer has consented."
)
class MembershipGrant:
    id: UUID
    organisation_id: UUID
    role: MembershipRole
    status: MembershipGrantStatus
    proposed_by: UUID = strawberry.field(description="The organisation that proposed it.")
    consents: list[UUID] = strawberry.field(description="Organisations that consented, in order.")
    awaiting: list[UUID] = strawberry.field(description="Outcome payers whose consent is still missing.")
    membership_id: UUID | None = strawberry.field(description="The membership it became, once granted.")
    created_at: datetime

    @classmethod
    def from_row(cls, row: MembershipGrantRow) -> MembershipGrant:
        return from_row(cls, row)

    @strawberry.field
    async def organisation(self, info: Info[Context, None]) -> Organisation | None:
        row = await info.context.loaders.organisation.load(self.organisation_id)
        return Organisation.from_row(row) if row else None


@strawberry.enum
class PartnershipStatus(enum.Enum):
    ACTIVE = "active"
    CLOSED = "closed"


@strawberry.type(description="A social outcomes partnership, as your partner type may see it.")
class Partnership(GlobalNode):
    uuid: UUID = strawberry.field(description="The raw UUID, as REST and the events name this object.")
    name: str
    description: str
    status: PartnershipStatus
    version: int
    created_at: datetime

    @classmethod
    def from_row(cls, row: PartnershipRow) -> Partnership:
        return from_row(cls, row, description=row.description or "")

    @strawberry.field(description="Your organisation's roles in this partnership (from your token).")
    def my_roles(self, info: Info[Context, None]) -> list[MembershipRole]:
        return [MembershipRole(r) for r in sorted(info.context.roles_in(self.uuid))]

    @strawberry.field
    async def members(self, info: Info[Context, None]) -> list[Member]:
        return [Member.from_row(r) for r in await info.context.loaders.members_of.load(self.uuid)]

    @strawberry.field(description="Proposed roles waiting for the outcome payers' consent, oldest first.")
    async def pending_membership_grants(self, info: Info[Context, None]) -> list[MembershipGrant]:
        rows = await info.context.services.identity.pending_membership_grants(self.uuid)
        return [MembershipGrant.from_row(r) for r in rows]

    @strawberry.field(description="What the partnership publishes, block by block (docs/open-data.md).")
    async def disclosure(self, info: Info[Context, None]) -> Disclosure:
        return await disclosure_of(info, self.uuid)

    @strawberry.field(
        description="The partnership as an INDIGO project document: `public` blocks only, small cells "
        "withheld."
    )
    async def indigo_export(self, info: Info[Context, None]) -> JSON:
        return await indigo_of(info, self.uuid)

    @strawberry.field(description="The partnership's contracts, oldest first.")
    async def contracts(self, info: Info[Context, None]) -> list[Contract]:
        return [Contract.from_row(r) for r in await info.context.loaders.contracts_of.load(self.uuid)]

    @strawberry.field(description="The partnership's latest contract (most have exactly one).")
    async def contract(self, info: Info[Context, None]) -> Contract | None:
        rows = await info.context.loaders.contracts_of.load(self.uuid)
        return Contract.from_row(rows[-1]) if rows else None

    @strawberry.field(description="Participants you may see, by pseudonym.")
    async def participants(
        self, info: Info[Context, None], first: int = DEFAULT_FIRST, after: str | None = None
    ) -> Connection[Participant] | None:
        return await participants_page(info, self.uuid, first, after)

    @strawberry.field(description="Outcome claims you may see; filter by `status`.")
    async def claims(
        self,
        info: Info[Context, None],
        first: int = DEFAULT_FIRST,
        after: str | None = None,
        status: ClaimStatus | None = None,
    ) -> Connection[Claim] | None:
        return await claims_page(info, self.uuid, first, after, status)

    @strawberry.field(description="Enrolment, verified outcomes by code and month, value earned and caps.")
    async def outcome_summary(self, info: Info[Context, None]) -> OutcomeSummary | None:
        return OutcomeSummary.from_row(await info.context.loaders.aggregates.load(self.uuid))

    @strawberry.field(description="Payment statements you may see, under all the partnership's contracts.")
    async def statements(self, info: Info[Context, None]) -> list[Statement] | None:
        contracts = await info.context.loaders.contracts_of.load(self.uuid)
        lists = await info.context.loaders.statements_of_contract.load_many([c.id for c in contracts])
        return [Statement.from_row(r) for rows in lists for r in rows]

    @strawberry.field(description="The hash-chained ledger, in sequence order.")
    async def ledger(
        self, info: Info[Context, None], first: int = DEFAULT_FIRST, after: str | None = None
    ) -> Connection[LedgerEvent] | None:
        return await ledger_page(info, self.uuid, first, after)

    @strawberry.field(description="The whole stored chain verified now: valid, or where it breaks.")
    async def ledger_status(self, info: Info[Context, None]) -> ChainStatus | None:
        return ChainStatus.from_row(await info.context.loaders.chain.load(self.uuid))


@strawberry.type
class Membership:
    partnership_id: UUID
    roles: list[MembershipRole]


@strawberry.enum(description="Who a token speaks for: a person, or a machine client.")
class PrincipalKind(enum.Enum):
    USER = "user"
    CLIENT = "client"


@strawberry.type
class Me:
    subject: str
    kind: PrincipalKind
    organisation_id: UUID
    partner_type: PartnerType
    scopes: list[str]
    memberships: list[Membership]

    @strawberry.field
    async def organisation(self, info: Info[Context, None]) -> Organisation | None:
        row = await info.context.loaders.organisation.load(self.organisation_id)
        return Organisation.from_row(row) if row else None

    @strawberry.field(
        description="Your organisation's webhook subscriptions, oldest first (needs `webhooks:manage`)."
    )
    async def webhook_subscriptions(self, info: Info[Context, None]) -> Connection[WebhookSubscription]:
        return await subscriptions_of_organisation(info)


def _partnership_cursor(p: Partnership) -> str:
    return encode_cursor(p.created_at.isoformat(), p.uuid)


@strawberry.type
class PartnerQuery:
    @strawberry.field(description="The caller: a user or machine client, its organisation and memberships.")
    def me(self, info: Info[Context, None]) -> Me:
        p = info.context.principal
        return Me(
            subject=p.subject,
            kind=PrincipalKind(p.kind),
            organisation_id=p.organisation_id,
            partner_type=PartnerType(p.partner_type),
            scopes=sorted(p.scopes),
            memberships=[
                Membership(partnership_id=pid, roles=[MembershipRole(r) for r in sorted(roles)])
                for pid, roles in p.memberships.items()
            ],
        )

    @strawberry.field(description="Partnerships your organisation belongs to (every one, for operators).")
    async def partnerships(
        self, info: Info[Context, None], first: int = DEFAULT_FIRST, after: str | None = None
    ) -> Connection[Partnership]:
        page = await info.context.services.identity.partnerships_page(limit=check_first(first), cursor=after)
        return from_page(page, Partnership.from_row, _partnership_cursor, after=after)

    @strawberry.field(description="One partnership, or null if you may not see it.")
    async def partnership(self, info: Info[Context, None], id: relay.GlobalID) -> Partnership | None:
        key = uuid_or_none(id, "Partnership")
        row = await info.context.loaders.partnership.load(key) if key else None
        return Partnership.from_row(row) if row else None

    @strawberry.field(description="One organisation you may see (your own or a partner's).")
    async def organisation(self, info: Info[Context, None], id: relay.GlobalID) -> Organisation | None:
        key = uuid_or_none(id, "Organisation")
        row = await info.context.loaders.organisation.load(key) if key else None
        return Organisation.from_row(row) if row else None

    @strawberry.field(description="One participant you may see, by id (never for investors or operators).")
    async def participant(self, info: Info[Context, None], id: relay.GlobalID) -> Participant | None:
        key = uuid_or_none(id, "Participant")
        row = await info.context.loaders.participant.load(key) if key else None
        if row is None or not policy.rows_visible(info.context.roles_in(row.partnership_id), "Participant"):
            return None
        return Participant.from_row(row)


# --- mutations ---------------------------------------------------------------------------------------------


@strawberry.type
class PartnerMutation:
    @strawberry.mutation(description="Start a partnership (operators); add its members next.")
    async def create_partnership(
        self,
        info: Info[Context, None],
        name: str,
        description: str = "",
        idempotency_key: str | None = None,
    ) -> Result[Partnership]:
        call = info.context.services.identity.create_partnership(
            name=name, description=description, idempotency_key=idempotency_key
        )
        return await attempt(call, Partnership.from_row)

    @strawberry.mutation(
        description="Rename, describe or close a partnership (operators); `expectedVersion` is required."
    )
    async def update_partnership(
        self,
        info: Info[Context, None],
        id: relay.GlobalID,
        expected_version: int,
        name: str | None = None,
        description: str | None = None,
        status: PartnershipStatus | None = None,
    ) -> Result[Partnership]:
        call = info.context.services.identity.update_partnership(
            uuid_of(id, "Partnership", field="id"),
            expected_version=expected_version,
            name=name,
            description=description,
            status=status.value if status is not None else None,
        )
        return await attempt(call, Partnership.from_row)

    @strawberry.mutation(
        description="Give another organisation a role: operators any role, an outcome payer `INVESTOR`, "
        "`ADVISER` or `OBSERVER` (propose the others with `proposeMember`). Never your own organisation."
    )
    async def add_member(
        self,
        info: Info[Context, None],
        partnership_id: relay.GlobalID,
        organisation_id: relay.GlobalID,
        role: MembershipRole,
        idempotency_key: str | None = None,
    ) -> Result[Member]:
        call = info.context.services.identity.add_member(
            uuid_of(partnership_id, "Partnership", field="partnership_id"),
            organisation_id=uuid_of(organisation_id, "Organisation", field="organisation_id"),
            role=role.value,
            idempotency_key=idempotency_key,
        )
        return await attempt(call, Member.from_row)

    @strawberry.mutation(
        description="Remove a membership: operators any; an organisation its own (leaving), except as "
        "outcome payer."
    )
    async def remove_member(
        self, info: Info[Context, None], partnership_id: relay.GlobalID, membership_id: UUID
    ) -> Result[Done]:
        call = info.context.services.identity.remove_member(
            uuid_of(partnership_id, "Partnership", field="partnership_id"), membership_id
        )
        return await attempt(call, lambda _: Done())

    @strawberry.mutation(
        description="Propose a role for another organisation (an outcome payer; counts as your consent). "
        "It takes effect when every outcome payer has consented: at once if you are the only one."
    )
    async def propose_member(
        self,
        info: Info[Context, None],
        partnership_id: relay.GlobalID,
        organisation_id: relay.GlobalID,
        role: MembershipRole,
        idempotency_key: str | None = None,
    ) -> Result[MembershipGrant]:
        call = info.context.services.identity.propose_member(
            uuid_of(partnership_id, "Partnership", field="partnership_id"),
            organisation_id=uuid_of(organisation_id, "Organisation", field="organisation_id"),
            role=role.value,
            idempotency_key=idempotency_key,
        )
        return await attempt(call, MembershipGrant.from_row)

    @strawberry.mutation(
        description="Consent, as an outcome payer, to a proposed role (a repeat changes nothing); the last "
        "consent needed makes the membership."
    )
    async def consent_to_member(
        self,
        info: Info[Context, None],
        partnership_id: relay.GlobalID,
        grant_id: UUID,
        idempotency_key: str | None = None,
    ) -> Result[MembershipGrant]:
        call = info.context.services.identity.consent_to_member(
            uuid_of(partnership_id, "Partnership", field="partnership_id"),
            grant_id,
            idempotency_key=idempotency_key,
        )
        return await attempt(call, MembershipGrant.from_row)

    @strawberry.mutation(description="Decline a proposed role (any outcome payer); it is kept, as declined.")
    async def decline_member(
        self, info: Info[Context, None], partnership_id: relay.GlobalID, grant_id: UUID
    ) -> Result[MembershipGrant]:
        call = info.context.services.identity.decline_member(
            uuid_of(partnership_id, "Partnership", field="partnership_id"), grant_id
        )
        return await attempt(call, MembershipGrant.from_row)
