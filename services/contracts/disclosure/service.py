"""Disclosure rules: read and change a partnership's statuses (audited, If-Match), gather what an export
is rendered from, publish for the public read.

A change that takes a block out of `public` records `disclosure.withdrawn` in the registry's change log in
the same transaction; the outcome service records it in the partnership's ledger, so the feed and webhooks
tell every consumer to delete its copies. Changes to one partnership are serialised by a lock on its
policy row (created on first change). Functions never commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.cells import DEFAULT_THRESHOLD
from kit.problems import InvalidParam
from services.contracts.clients.identity import IdentityClient
from services.contracts.clients.outcomes import OutcomesClient
from services.contracts.disclosure import access, fields, results
from services.contracts.disclosure.fields import Status
from services.contracts.disclosure.models import (
    DisclosureChange,
    DisclosurePolicy,
    DisclosureStatus,
    Publication,
)
from services.contracts.disclosure.source import (
    ContractFacts,
    OrganisationFacts,
    SignatureFacts,
    Source,
    VersionFacts,
)
from services.contracts.errors import ContractNotFound, IfMatchRequired, NothingPublished, StaleVersion
from services.contracts.events import actor_of, record_partnership_event
from services.contracts.models import EVER_ACTIVE, Contract, ContractVersion, Signature

WITHDRAWN = "disclosure.withdrawn"
THRESHOLD_BLOCK = "small_cell_threshold"


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class BlockView:
    code: str
    status: Status
    source: str  # set | terms | default
    description: str
    exported_as: str


@dataclass(frozen=True, slots=True)
class PolicyView:
    partnership_id: UUID
    small_cell_threshold: int
    blocks: Sequence[BlockView]
    row_version: int

    @property
    def etag(self) -> str:
        return f'"{self.partnership_id}.{self.row_version}"'

    @property
    def public(self) -> frozenset[str]:
        return frozenset(b.code for b in self.blocks if b.status == Status.PUBLIC)


async def _contracts(session: AsyncSession, partnership_id: UUID) -> list[ContractFacts]:
    """The partnership's contracts with every version that governed, each with its signatures."""
    rows = (
        await session.execute(
            select(ContractVersion)
            .join(Contract, Contract.id == ContractVersion.contract_id)
            .where(Contract.partnership_id == partnership_id, ContractVersion.status.in_(EVER_ACTIVE))
            .order_by(Contract.created_at, Contract.id, ContractVersion.number)
        )
    ).scalars()
    versions = list(rows)
    signatures: dict[UUID, list[SignatureFacts]] = {v.id: [] for v in versions}
    if versions:
        for s in await session.scalars(
            select(Signature).where(Signature.version_id.in_(list(signatures))).order_by(Signature.signed_at)
        ):
            signatures[s.version_id].append(SignatureFacts(s.organisation_id, s.signed_at))
    by_contract: dict[UUID, list[VersionFacts]] = {}
    for v in versions:
        by_contract.setdefault(v.contract_id, []).append(
            VersionFacts(
                id=v.id,
                number=v.number,
                status=v.status,
                terms=v.terms,
                activated_at=v.activated_at or v.created_at,
                ended_at=v.ended_at,
                terminated_on=v.terminated_on,
                rationale=v.rationale,
                signatures=signatures[v.id],
            )
        )
    return [ContractFacts(cid, vs) for cid, vs in by_contract.items()]


def _terms_statuses(contracts: Sequence[ContractFacts]) -> list[dict[str, Status]]:
    return [
        {code: Status(status) for code, status in (c.current.terms.get("disclosure") or {}).items()}
        for c in contracts
    ]


async def _policy(
    session: AsyncSession, partnership_id: UUID, contracts: Sequence[ContractFacts], *, lock: bool = False
) -> PolicyView:
    query = select(DisclosurePolicy).where(DisclosurePolicy.partnership_id == partnership_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    policy = await session.scalar(query)
    chosen = {
        row.block: Status(row.status)
        for row in await session.scalars(
            select(DisclosureStatus).where(DisclosureStatus.partnership_id == partnership_id)
        )
    }
    statuses = fields.effective(chosen, _terms_statuses(contracts))
    blocks = [
        BlockView(b.code, statuses[b.code][0], statuses[b.code][1], b.description, b.exported_as)
        for b in fields.BLOCKS
    ]
    return PolicyView(
        partnership_id,
        policy.small_cell_threshold if policy else DEFAULT_THRESHOLD,
        blocks,
        policy.row_version if policy else 0,
    )


async def get_policy(session: AsyncSession, principal: Principal, partnership_id: UUID) -> PolicyView:
    """Each block's status and where it comes from, and the small-cell threshold."""
    access.require_reader(principal, partnership_id)
    return await _policy(session, partnership_id, await _contracts(session, partnership_id))


async def change_policy(
    session: AsyncSession,
    principal: Principal,
    partnership_id: UUID,
    *,
    blocks: Mapping[str, Status],
    threshold: int | None,
    reason: str | None,
    if_match: str | None,
) -> PolicyView:
    """Set statuses and the threshold, auditing each change; a block leaving `public` is announced."""
    access.require_setter(principal, partnership_id)
    if if_match is None:
        raise IfMatchRequired(
            "send If-Match with the ETag of the disclosure you read",
            invalid_params=[InvalidParam(name="header.If-Match", reason="required")],
        )
    await session.execute(
        insert(DisclosurePolicy).values(partnership_id=partnership_id, row_version=0).on_conflict_do_nothing()
    )
    contracts = await _contracts(session, partnership_id)
    before = await _policy(session, partnership_id, contracts, lock=True)
    candidates = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if "*" not in candidates and before.etag not in candidates:
        raise StaleVersion(
            "the disclosure changed since you read it; read it again",
            invalid_params=[InvalidParam(name="header.If-Match", reason="not the current ETag")],
            current_etag=before.etag,
        )
    current = {b.code: b.status for b in before.blocks}
    actor = actor_of(principal)
    withdrawn: list[str] = []
    changed = False
    for code, status in sorted(blocks.items()):
        await session.execute(
            insert(DisclosureStatus)
            .values(
                partnership_id=partnership_id,
                block=code,
                status=status.value,
                set_at=now(),
                set_by_organisation_id=principal.organisation_id,
            )
            .on_conflict_do_update(
                index_elements=["partnership_id", "block"],
                set_={
                    "status": status.value,
                    "set_at": now(),
                    "set_by_organisation_id": principal.organisation_id,
                },
            )
        )
        if current[code] == status:
            continue
        changed = True
        session.add(
            DisclosureChange(
                partnership_id=partnership_id,
                block=code,
                before=current[code].value,
                after=status.value,
                reason=reason,
                actor=actor,
            )
        )
        if current[code] == Status.PUBLIC:
            withdrawn.append(code)
    policy = await session.scalar(
        select(DisclosurePolicy).where(DisclosurePolicy.partnership_id == partnership_id)
    )
    assert policy is not None
    if threshold is not None and threshold != before.small_cell_threshold:
        changed = True
        session.add(
            DisclosureChange(
                partnership_id=partnership_id,
                block=THRESHOLD_BLOCK,
                before=str(before.small_cell_threshold),
                after=str(threshold),
                reason=reason,
                actor=actor,
            )
        )
        policy.small_cell_threshold = threshold
    if changed:
        policy.updated_at = now()  # moves the row version, so the ETag names the change
    if withdrawn:
        await record_partnership_event(
            session,
            principal,
            partnership_id,
            type=WITHDRAWN,
            data={"blocks": withdrawn, "withdrawn_at": now().isoformat()},
        )
    await session.flush()
    return await _policy(session, partnership_id, contracts)


async def list_changes(
    session: AsyncSession, principal: Principal, partnership_id: UUID, *, limit: int
) -> list[DisclosureChange]:
    """The audit, newest first."""
    access.require_reader(principal, partnership_id)
    query = (
        select(DisclosureChange)
        .where(DisclosureChange.partnership_id == partnership_id)
        .order_by(DisclosureChange.changed_at.desc(), DisclosureChange.id)
        .limit(limit)
    )
    return list(await session.scalars(query))


# --- exports ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Readers:
    """The other services an export reads, and the caller's token to read them with."""

    identity: IdentityClient
    outcomes: OutcomesClient
    token: str


async def _organisations(
    readers: Readers, contracts: Sequence[ContractFacts]
) -> dict[UUID, OrganisationFacts]:
    ids = {UUID(p["organisation_id"]) for c in contracts for v in c.versions for p in v.terms["parties"]}
    found = await readers.identity.organisations(sorted(ids, key=str), token=readers.token)
    return {i: OrganisationFacts(o.name, o.identifier, o.partner_type) for i, o in found.items()}


def _source(
    partnership_id: UUID,
    contracts: Sequence[ContractFacts],
    organisations: Mapping[UUID, OrganisationFacts],
    published: Mapping[str, Any] | None,
    policy: PolicyView,
    *,
    ocid_prefix: str,
    base_url: str,
) -> Source:
    return Source(partnership_id, contracts, organisations, published, policy.public, ocid_prefix, base_url)


async def live_source(
    session: AsyncSession,
    principal: Principal,
    partnership_id: UUID,
    readers: Readers,
    *,
    ocid_prefix: str,
    base_url: str,
) -> Source:
    """What an export shows now, read with the caller's token (the other services apply their own rules)."""
    access.require_reader(principal, partnership_id)
    contracts = await _contracts(session, partnership_id)
    policy = await _policy(session, partnership_id, contracts)
    organisations = await _organisations(readers, contracts) if "contract.parties" in policy.public else {}
    published = None
    if policy.public & {"results.engaged", "results.outcomes", "results.payments"}:
        aggregates = await readers.outcomes.aggregates(partnership_id, token=readers.token)
        grid = results.layout(contracts, now().date())
        published = results.publish(aggregates, policy.small_cell_threshold, grid)
    return _source(
        partnership_id,
        contracts,
        organisations,
        published,
        policy,
        ocid_prefix=ocid_prefix,
        base_url=base_url,
    )


async def publish(
    session: AsyncSession, principal: Principal, partnership_id: UUID, readers: Readers
) -> Publication:
    """Store the parties' names and the suppressed results for the public read, as they are now."""
    access.require_setter(principal, partnership_id)
    contracts = await _contracts(session, partnership_id)
    policy = await _policy(session, partnership_id, contracts)
    organisations = await _organisations(readers, contracts)
    aggregates = await readers.outcomes.aggregates(partnership_id, token=readers.token)
    published = results.publish(
        aggregates, policy.small_cell_threshold, results.layout(contracts, now().date())
    )
    stored = {
        str(i): {"name": o.name, "identifier": o.identifier, "partner_type": o.partner_type}
        for i, o in organisations.items()
    }
    values = {
        "organisations": stored,
        "results": published,
        "published_at": now(),
        "published_by": actor_of(principal),
    }
    await session.execute(
        insert(Publication)
        .values(partnership_id=partnership_id, **values)
        .on_conflict_do_update(index_elements=["partnership_id"], set_=values)
    )
    row = await session.scalar(
        select(Publication)
        .where(Publication.partnership_id == partnership_id)
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


async def public_source(
    session: AsyncSession, partnership_id: UUID, *, ocid_prefix: str, base_url: str
) -> tuple[Source, datetime]:
    """What the public read shows: the registry and the statuses as they are now (a block made private
    leaves at once), with the organisations and results of the last publication."""
    publication = await session.scalar(
        select(Publication).where(Publication.partnership_id == partnership_id)
    )
    if publication is None:
        raise NothingPublished(f"partnership {partnership_id} has published nothing")
    contracts = await _contracts(session, partnership_id)
    policy = await _policy(session, partnership_id, contracts)
    organisations = {
        UUID(i): OrganisationFacts(o["name"], o["identifier"], o["partner_type"])
        for i, o in publication.organisations.items()
    }
    # Results published under a lower threshold than today's are re-checked against today's.
    stored = publication.results
    published = (
        results.lay_out(stored, results.layout(contracts, publication.published_at.astimezone(UTC).date()))
        if stored["threshold"] >= policy.small_cell_threshold
        else None
    )
    source = _source(
        partnership_id,
        contracts,
        organisations,
        published,
        policy,
        ocid_prefix=ocid_prefix,
        base_url=base_url,
    )
    return source, publication.published_at


def contract_of(source: Source, contract_id: UUID) -> ContractFacts:
    for contract in source.contracts:
        if contract.id == contract_id:
            return contract
    raise ContractNotFound(f"no contract {contract_id} that governed in this partnership")


async def partnership_of_contract(session: AsyncSession, contract_id: UUID) -> UUID:
    found = await session.scalar(select(Contract.partnership_id).where(Contract.id == contract_id))
    if found is None:
        raise ContractNotFound(f"no contract {contract_id}")
    return found
