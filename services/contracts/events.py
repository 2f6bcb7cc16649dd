"""The registry's change log: activations, terminations and expiries, and a block of the partnership
withdrawn from publication (`disclosure.withdrawn`), for the services that act on them.

The outcome service pulls it (`GET /v1/contract-events?after=<sequence>`) with its own service credential
and records each event in the partnership's ledger, so nothing the registry accepted is lost when a
service is down: the event commits with the change it records and waits to be read. Sequences are taken
under a transaction-wide lock held until commit, so they become visible in order and a reader that has
seen sequence N never later finds a smaller one.

The same readers may read the terms of a version the log names (`logged_version`): only versions that
became active, as the registry froze them, and nothing else of the version (no signatures, no free-text
reason, no attachment). That is what a service needs to act on an activation on its own — the outcome
service re-prices a retroactive amendment's claims when it activates — without becoming a partner.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.rows import bind_partnerships
from services.contracts.errors import NotAnEventReader, VersionNotFound
from services.contracts.models import EVER_ACTIVE, Contract, ContractEvent, ContractVersion

# Only the clients identity ensures for the platform's own services can hold this scope (no registration
# may ask for it); the registry also names which of them may read its log.
SERVICE_SCOPE = "tokens:revocations"
_LOG_LOCK = "contracts:events"


def actor_of(principal: Principal) -> dict[str, Any]:
    return {
        "organisation_id": str(principal.organisation_id),
        "partner_type": principal.partner_type,
        "kind": principal.kind,
        "subject": principal.subject,
    }


async def record_event(
    session: AsyncSession,
    principal: Principal,
    partnership_id: UUID,
    version: ContractVersion,
    *,
    type: str,
    data: dict[str, Any],
) -> ContractEvent:
    """Add `type` about `version` to the change log, in the caller's transaction."""
    return await _record(
        session,
        ContractEvent(
            type=type,
            partnership_id=partnership_id,
            contract_id=version.contract_id,
            version_id=version.id,
            actor=actor_of(principal),
            data={
                "contract_id": str(version.contract_id),
                "version_id": str(version.id),
                "number": version.number,
                "content_hash": version.content_hash,
            }
            | data,
        ),
    )


async def record_partnership_event(
    session: AsyncSession, principal: Principal, partnership_id: UUID, *, type: str, data: dict[str, Any]
) -> ContractEvent:
    """Add a partnership-wide `type` (no contract, no version) to the change log."""
    event = ContractEvent(type=type, partnership_id=partnership_id, actor=actor_of(principal), data=data)
    return await _record(session, event)


async def _record(session: AsyncSession, event: ContractEvent) -> ContractEvent:
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": _LOG_LOCK})
    # Across every partnership, which the row policies hide from this caller: the owner's function returns
    # the one number (migration 2026-12-03-1130).
    last = await session.scalar(select(func.contract_events_last_sequence()))
    event.sequence = int(last or 0) + 1
    session.add(event)
    await session.flush()
    return event


def require_event_reader(principal: Principal, readers: frozenset[str]) -> None:
    if principal.is_operator and principal.has_scope("contracts:read"):
        return
    if principal.has_scope(SERVICE_SCOPE) and principal.client_id in readers:
        return
    raise NotAnEventReader("read the change log with a platform service's client, or as an operator")


async def list_events(
    session: AsyncSession, principal: Principal, *, after: int, limit: int, readers: frozenset[str]
) -> list[ContractEvent]:
    """The events after sequence `after`, oldest first."""
    require_event_reader(principal, readers)
    # The change log spans every partnership and its readers may read all of it: a platform service's
    # client holds no membership, so this request's transactions name every partnership explicitly (the
    # one such request in the registry; docs/operations.md, Row-level security).
    bind_partnerships((), every=True)
    query = select(ContractEvent).where(ContractEvent.sequence > after).order_by(ContractEvent.sequence)
    return list(await session.scalars(query.limit(limit)))


async def logged_version(
    session: AsyncSession, principal: Principal, version_id: UUID, *, readers: frozenset[str]
) -> tuple[ContractVersion, UUID]:
    """A version the change log names (one that became active), with its contract's partnership id."""
    require_event_reader(principal, readers)
    # Like the log itself, a version it names may be in any partnership (docs/operations.md).
    bind_partnerships((), every=True)
    row = (
        (
            await session.execute(
                select(ContractVersion, Contract.partnership_id)
                .join(Contract, Contract.id == ContractVersion.contract_id)
                .where(ContractVersion.id == version_id, ContractVersion.status.in_(EVER_ACTIVE))
            )
        )
        .tuples()
        .first()
    )
    if row is None:
        raise VersionNotFound(f"the change log names no contract version {version_id}")
    return row
