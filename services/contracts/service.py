"""The contract registry's rules: who may read, draft, amend and end a contract version (proposal and
signatures are in `signing`, files in `attachments`).

Only a party that signed a version may end it: alone where the terms grant it that right (no earlier than
their notice period), otherwise by agreement, each signing party recording its consent to the same date;
the version terminates with the last consent.

Functions take the request's session and the caller, flush when they need ids, and never commit. Every
read starts from `readable_contracts` / `readable_versions`. Lifecycle writes lock the contract row first
(`lock_version`), so transitions of one contract happen one at a time; draft edits are optimistic
(`row_version`, sent as the ETag).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from kit.auth import Principal
from kit.pagination import decode_cursor, encode_cursor
from kit.problems import BadRequest, InvalidParam
from services.contracts.errors import (
    ContractNotFound,
    IfMatchRequired,
    InvalidTerms,
    InvalidTransition,
    NotAllowed,
    NotASignatory,
    NotASigningParty,
    NoticeTooShort,
    NoVersionInForce,
    OpenVersionExists,
    StaleVersion,
    TerminationPending,
    VersionNotEditable,
    VersionNotFound,
)
from services.contracts.events import record_event
from services.contracts.models import (
    EVER_ACTIVE,
    OPEN,
    Attachment,
    Contract,
    ContractVersion,
    Signature,
    TerminationConsent,
)
from services.contracts.terms import (
    Issue,
    Terms,
    check_terms,
    content_hash,
    normalised,
    parse_terms,
    proposal_issues,
)

# Membership roles that may draft and steer a contract. Advisers draft contracts for their clients;
# investors, evaluators and observers read.
EDITOR_ROLES = frozenset({"outcome_payer", "provider", "adviser"})


def now() -> datetime:
    return datetime.now(UTC)


def required_signatories(version: ContractVersion) -> list[UUID]:
    """Whose signatures activate the version: fixed on proposal; for a draft, its own signing parties."""
    if version.signatories is not None:
        return list(version.signatories)
    return [UUID(p["organisation_id"]) for p in version.terms.get("parties", []) if p.get("must_sign")]


# --- scoping ---------------------------------------------------------------------------------------------


def readable_contracts(principal: Principal) -> Select[Contract]:
    """Contracts the caller may read: its partnerships' (from the token), or every one for an operator."""
    query = select(Contract)
    if principal.is_operator:
        return query
    return query.where(Contract.partnership_id.in_(list(principal.memberships)))


def readable_versions(principal: Principal) -> Select[ContractVersion, UUID]:
    """Versions the caller may read, each with its contract's partnership id."""
    query = select(ContractVersion, Contract.partnership_id).join(
        Contract, Contract.id == ContractVersion.contract_id
    )
    if principal.is_operator:
        return query
    return query.where(Contract.partnership_id.in_(list(principal.memberships)))


def require_editor(principal: Principal, partnership_id: UUID) -> None:
    if not principal.roles_in(partnership_id) & EDITOR_ROLES:
        raise NotAllowed(
            "drafting and steering a contract takes the outcome_payer, provider or adviser role",
            required_roles=sorted(EDITOR_ROLES),
        )


# --- reads -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VersionView:
    """A version as read: its row, its partnership, its signatures and attachments, and whether the
    stored terms still hash to the fixed content hash."""

    version: ContractVersion
    partnership_id: UUID
    signatures: Sequence[Signature]
    attachments: Sequence[Attachment]
    terms_hash: str
    termination_consents: Sequence[TerminationConsent] = ()

    @property
    def etag(self) -> str:
        return version_etag(self.version)

    def signature_valid(self, signature: Signature) -> bool:
        return signature.content_hash == self.version.content_hash == self.terms_hash

    @property
    def required_signatories(self) -> list[UUID]:
        return required_signatories(self.version)

    @property
    def pending_signatories(self) -> list[UUID]:
        signed = {s.organisation_id for s in self.signatures if self.signature_valid(s)}
        return [org for org in self.required_signatories if org not in signed]

    @property
    def pending_termination_consents(self) -> list[UUID]:
        """Signing parties yet to consent to the termination under way (empty when none is)."""
        if not self.termination_consents or self.version.status != "active":
            return []
        consented = {c.organisation_id for c in self.termination_consents}
        return [org for org in self.required_signatories if org not in consented]


def version_etag(version: ContractVersion) -> str:
    return f'"{version.id}.{version.row_version}"'


def terms_etag(version: ContractVersion) -> str:
    """Frozen terms are named by their content hash; a draft's by its row version."""
    return f'"{version.content_hash}"' if version.content_hash else version_etag(version)


async def _views(session: AsyncSession, rows: Sequence[tuple[ContractVersion, UUID]]) -> list[VersionView]:
    ids = [version.id for version, _ in rows]
    signatures: dict[UUID, list[Signature]] = {i: [] for i in ids}
    attachments: dict[UUID, list[Attachment]] = {i: [] for i in ids}
    consents: dict[UUID, list[TerminationConsent]] = {i: [] for i in ids}
    if ids:
        for consent in await session.scalars(
            select(TerminationConsent)
            .where(TerminationConsent.version_id.in_(ids))
            .order_by(TerminationConsent.consented_at, TerminationConsent.id)
        ):
            consents[consent.version_id].append(consent)
        for signature in await session.scalars(
            select(Signature).where(Signature.version_id.in_(ids)).order_by(Signature.signed_at, Signature.id)
        ):
            signatures[signature.version_id].append(signature)
        for attachment in await session.scalars(
            select(Attachment).where(Attachment.version_id.in_(ids)).order_by(Attachment.created_at)
        ):
            attachments[attachment.version_id].append(attachment)
    return [
        VersionView(v, pid, signatures[v.id], attachments[v.id], content_hash(v.terms), consents[v.id])
        for v, pid in rows
    ]


async def _version_row(
    session: AsyncSession, principal: Principal, version_id: UUID, *, lock: bool = False
) -> tuple[ContractVersion, UUID]:
    query = readable_versions(principal).where(ContractVersion.id == version_id)
    if lock:
        query = query.with_for_update(of=ContractVersion)
    row = (await session.execute(query)).tuples().first()
    if row is None:
        raise VersionNotFound(f"no contract version {version_id} that you can read")
    return row


async def get_version(session: AsyncSession, principal: Principal, version_id: UUID) -> VersionView:
    """One version with its signatures, verified against the stored terms."""
    row = await _version_row(session, principal, version_id)
    return (await _views(session, [row]))[0]


async def get_versions(session: AsyncSession, principal: Principal, ids: Sequence[UUID]) -> list[VersionView]:
    """Batch read for the gateway's loaders; ids the caller cannot read are left out."""
    query = readable_versions(principal).where(ContractVersion.id.in_(list(ids)))
    rows = (await session.execute(query.order_by(ContractVersion.id))).tuples().all()
    return await _views(session, rows)


async def list_contract_versions(
    session: AsyncSession, principal: Principal, contract_id: UUID
) -> list[VersionView]:
    await get_contract(session, principal, contract_id)
    query = readable_versions(principal).where(ContractVersion.contract_id == contract_id)
    rows = (await session.execute(query.order_by(ContractVersion.number))).tuples().all()
    return await _views(session, rows)


async def get_contract(session: AsyncSession, principal: Principal, contract_id: UUID) -> Contract:
    contract = await session.scalar(readable_contracts(principal).where(Contract.id == contract_id))
    if contract is None:
        raise ContractNotFound(f"no contract {contract_id} that you can read")
    return contract


async def version_summaries(
    session: AsyncSession, contract_ids: Iterable[UUID]
) -> dict[UUID, list[ContractVersion]]:
    """Each contract's versions, oldest first (for contract reads; callers already scoped the contracts)."""
    ids = list(contract_ids)
    found: dict[UUID, list[ContractVersion]] = {i: [] for i in ids}
    if ids:
        query = (
            select(ContractVersion)
            .where(ContractVersion.contract_id.in_(ids))
            .order_by(ContractVersion.contract_id, ContractVersion.number)
        )
        for version in await session.scalars(query):
            found[version.contract_id].append(version)
    return found


async def list_contracts(
    session: AsyncSession,
    principal: Principal,
    *,
    partnership_id: UUID | None = None,
    ids: Sequence[UUID] | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Contract], str | None]:
    """Contracts the caller may read, oldest first, a page at a time."""
    query = readable_contracts(principal)
    if partnership_id is not None:
        query = query.where(Contract.partnership_id == partnership_id)
    if ids is not None:
        query = query.where(Contract.id.in_(list(ids)))
    if cursor:
        created_at, contract_id = decode_cursor(cursor, 2)
        try:
            key = (datetime.fromisoformat(created_at), UUID(contract_id))
        except ValueError as exc:
            raise BadRequest.field("cursor", "not a cursor this API issued") from exc
        query = query.where(tuple_(Contract.created_at, Contract.id) > key)
    rows = list(await session.scalars(query.order_by(Contract.created_at, Contract.id).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].created_at.isoformat(), rows[-1].id)
    return rows, next_cursor


async def version_in_force(
    session: AsyncSession, principal: Principal, contract_id: UUID, on: date
) -> VersionView:
    """The version whose terms govern `on`: the highest-numbered version that became active and whose
    period covers the date, unless the contract was terminated on or before it."""
    await get_contract(session, principal, contract_id)
    base = readable_versions(principal).where(
        ContractVersion.contract_id == contract_id, ContractVersion.status.in_(EVER_ACTIVE)
    )
    terminated = await session.scalar(
        select(func.min(ContractVersion.terminated_on)).where(
            ContractVersion.contract_id == contract_id, ContractVersion.status == "terminated"
        )
    )
    row = None
    if terminated is None or on < terminated:
        query = base.where(ContractVersion.start_date <= on, ContractVersion.end_date >= on)
        row = (await session.execute(query.order_by(ContractVersion.number.desc()).limit(1))).tuples().first()
    if row is None:
        raise NoVersionInForce(f"no version of contract {contract_id} is in force on {on}", on=on.isoformat())
    return (await _views(session, [row]))[0]


async def diff_versions(
    session: AsyncSession, principal: Principal, from_id: UUID, to_id: UUID
) -> tuple[ContractVersion, ContractVersion]:
    """Both versions, once the caller may read them; the diff itself is pure (`terms.diff_documents`)."""
    before, _ = await _version_row(session, principal, from_id)
    after, _ = await _version_row(session, principal, to_id)
    return before, after


# --- drafting --------------------------------------------------------------------------------------------


def validate_terms(terms: Terms) -> tuple[dict[str, Any], list[Issue]]:
    """A document's canonical form (what a version would store and sign) and what it still lacks before
    it can be proposed, without storing anything; invalid terms raise `InvalidTerms`."""
    return _checked(terms, "body"), proposal_issues(terms)


def _checked(terms: Terms, prefix: str = "body.terms") -> dict[str, Any]:
    issues = check_terms(terms)
    if issues:
        raise InvalidTerms.from_issues(issues, prefix)
    return normalised(terms)


def _new_version(
    contract_id: UUID, number: int, document: dict[str, Any], principal: Principal, derived_from: UUID | None
) -> ContractVersion:
    return ContractVersion(
        contract_id=contract_id,
        number=number,
        status="draft",
        terms=document,
        start_date=date.fromisoformat(document["start_date"]),
        end_date=date.fromisoformat(document["end_date"]),
        derived_from_id=derived_from,
        created_by=principal.subject,
    )


async def create_contract(
    session: AsyncSession, principal: Principal, *, partnership_id: UUID, terms: Terms
) -> tuple[Contract, ContractVersion]:
    """A new contract with its first draft."""
    if not principal.is_member(partnership_id):
        raise NotAllowed("only members of the partnership may draft its contracts")
    require_editor(principal, partnership_id)
    document = _checked(terms)
    contract = Contract(
        partnership_id=partnership_id,
        created_by_organisation_id=principal.organisation_id,
        created_by=principal.subject,
    )
    session.add(contract)
    await session.flush()
    version = _new_version(contract.id, 1, document, principal, None)
    session.add(version)
    await session.flush()
    return contract, version


def require_if_match(if_match: str | None, current: str, *, required: bool) -> None:
    if if_match is None:
        if required:
            raise IfMatchRequired(
                "send If-Match with the ETag of the draft you edited",
                invalid_params=[InvalidParam(name="header.If-Match", reason="required")],
            )
        return
    candidates = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if "*" not in candidates and current not in candidates:
        raise StaleVersion(
            "the version changed since you read it; read it again",
            invalid_params=[InvalidParam(name="header.If-Match", reason="not the current ETag")],
            current_etag=current,
        )


async def update_draft_terms(
    session: AsyncSession, principal: Principal, version_id: UUID, *, terms: Terms, if_match: str | None
) -> ContractVersion:
    """Replace a draft's terms, if the caller read the draft as it is now (optimistic concurrency)."""
    version, partnership_id = await _version_row(session, principal, version_id)
    require_editor(principal, partnership_id)
    if version.status != "draft":
        raise VersionNotEditable(
            f"version {version.number} is {version.status}; amend the contract instead",
            invalid_params=[InvalidParam(name="status", reason=f"is {version.status}, not draft")],
        )
    require_if_match(if_match, version_etag(version), required=True)
    document = _checked(terms, "body")
    version.terms = document
    version.start_date = date.fromisoformat(document["start_date"])
    version.end_date = date.fromisoformat(document["end_date"])
    version.updated_at = now()
    try:
        # The UPDATE carries `WHERE row_version = <read>`: a concurrent edit that committed first makes
        # it match nothing, whichever request got past the If-Match check.
        await session.flush()
    except StaleDataError as exc:
        raise StaleVersion(
            "another edit of this draft won; read it again",
            invalid_params=[InvalidParam(name="header.If-Match", reason="not the current ETag")],
        ) from exc
    return version


async def _lock_contract(session: AsyncSession, principal: Principal, contract_id: UUID) -> Contract:
    query = readable_contracts(principal).where(Contract.id == contract_id).with_for_update()
    contract = await session.scalar(query)
    if contract is None:
        raise ContractNotFound(f"no contract {contract_id} that you can read")
    return contract


async def lock_version(
    session: AsyncSession, principal: Principal, version_id: UUID
) -> tuple[Contract, ContractVersion]:
    """The version and its contract, contract row locked first (the order every lifecycle write uses)."""
    version, _ = await _version_row(session, principal, version_id)
    contract = await _lock_contract(session, principal, version.contract_id)
    await session.refresh(version, with_for_update=True)
    return contract, version


async def amend_contract(
    session: AsyncSession,
    principal: Principal,
    contract_id: UUID,
    *,
    terms: Terms | None,
    rationale: str | None = None,
) -> ContractVersion:
    """A new draft derived from the active version (or, before any was active, from the latest)."""
    contract = await _lock_contract(session, principal, contract_id)
    require_editor(principal, contract.partnership_id)
    versions = (await version_summaries(session, [contract.id]))[contract.id]
    if any(v.status in OPEN for v in versions):
        raise OpenVersionExists("finish or withdraw the open draft or proposal first")
    base = next((v for v in versions if v.status == "active"), None)
    if base is None:
        if any(v.status in EVER_ACTIVE for v in versions):
            raise InvalidTransition("the contract has ended; it can no longer be amended")
        base = versions[-1]
    document = _checked(terms) if terms is not None else base.terms
    version = _new_version(contract.id, versions[-1].number + 1, document, principal, base.id)
    version.rationale = rationale
    session.add(version)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise OpenVersionExists("the contract already has an open draft or proposal") from exc
    return version


async def withdraw_version(
    session: AsyncSession, principal: Principal, version_id: UUID, *, reason: str | None
) -> ContractVersion:
    """Take back a draft or proposal; signatures already given stay on record but bind nothing."""
    contract, version = await lock_version(session, principal, version_id)
    require_editor(principal, contract.partnership_id)
    if version.status not in OPEN:
        raise InvalidTransition(
            f"a {version.status} version cannot be withdrawn", version_status=version.status
        )
    if version.content_hash is None:
        # A withdrawn version never changes again: fix the hash of the terms it ended with, as a
        # proposal would have (the table requires it of every version past draft).
        version.content_hash = content_hash(version.terms)
    version.status = "withdrawn"
    version.ended_at = version.updated_at = now()
    version.end_reason = reason
    await session.flush()
    return version


# --- ending ----------------------------------------------------------------------------------------------


async def terminate_version(
    session: AsyncSession,
    principal: Principal,
    version_id: UUID,
    *,
    effective_on: date,
    reason: str,
    today: date,
) -> ContractVersion:
    """Record the caller's party's termination of the active version from `effective_on`: it ends there
    at once when the terms let that party terminate alone (with their notice), else once every signing
    party consented to the same date. Consenting again to the same date changes nothing."""
    contract, version = await lock_version(session, principal, version_id)
    if not principal.is_member(contract.partnership_id):
        raise NotAllowed("only members of the partnership may end its contracts")
    if principal.kind != "user" or principal.org_role != "signatory":
        raise NotASignatory(
            "ending a contract, like signing it, takes a user with the signatory role of their organisation",
            invalid_params=[
                InvalidParam(name="org_role", reason=f"is {principal.org_role!r}, not 'signatory'")
            ],
        )
    if version.status != "active":
        raise InvalidTransition(f"only the active version can be terminated; this one is {version.status}")
    signed = set(
        await session.scalars(
            select(Signature.organisation_id).where(
                Signature.version_id == version.id, Signature.content_hash == version.content_hash
            )
        )
    )
    parties = required_signatories(version)
    if principal.organisation_id not in parties or principal.organisation_id not in signed:
        raise NotASigningParty(
            "only a party that signed this version may terminate it",
            invalid_params=[InvalidParam(name="organisation_id", reason="did not sign this version")],
        )
    if not version.start_date < effective_on <= version.end_date:
        raise BadRequest.field(
            "body.effective_on", f"must be after {version.start_date} and no later than {version.end_date}"
        )
    assert principal.user_id is not None
    terms = parse_terms(version.terms)
    consents = list(
        await session.scalars(select(TerminationConsent).where(TerminationConsent.version_id == version.id))
    )
    alone = terms.may_terminate_alone(principal.organisation_id)
    if alone:
        assert terms.termination is not None
        earliest = date.fromordinal(today.toordinal() + terms.termination.notice_days)
        if effective_on < earliest:
            raise NoticeTooShort(
                f"the terms give {terms.termination.notice_days} days' notice: the earliest is {earliest}",
                invalid_params=[InvalidParam(name="body.effective_on", reason=f"before {earliest}")],
                earliest_effective_on=earliest.isoformat(),
            )
    mine = next((c for c in consents if c.organisation_id == principal.organisation_id), None)
    agreed = next((c.effective_on for c in consents if not c.unilateral), None)
    if (mine is not None and mine.effective_on != effective_on) or (
        not alone and agreed is not None and agreed != effective_on
    ):
        pending = mine.effective_on if mine is not None else agreed
        raise TerminationPending(
            f"a termination from {pending} awaits the parties' agreement; consent to that date",
            invalid_params=[InvalidParam(name="body.effective_on", reason=f"is not {pending}")],
            effective_on=str(pending),
        )
    if mine is None:
        mine = TerminationConsent(
            version_id=version.id,
            organisation_id=principal.organisation_id,
            user_id=principal.user_id,
            effective_on=effective_on,
            reason=reason,
            unilateral=alone,
            consented_at=now(),
        )
        session.add(mine)
        consents.append(mine)
        version.updated_at = now()  # a new consent is a new representation: bump the ETag
        await session.flush()
    consented = {c.organisation_id for c in consents if c.effective_on == effective_on}
    if not alone and not set(parties) <= consented:
        return version
    version.status = "terminated"
    version.terminated_on = effective_on
    version.ended_at = version.updated_at = now()
    first = min((c for c in consents if c.effective_on == effective_on), key=lambda c: c.consented_at)
    version.end_reason = mine.reason if alone else first.reason
    await session.flush()
    await record_event(
        session,
        principal,
        contract.partnership_id,
        version,
        type="contract.terminated",
        data={
            "terminated_on": effective_on.isoformat(),
            "reason": version.end_reason,
            "by": "unilateral" if alone else "agreement",
            "organisations": [str(principal.organisation_id)] if alone else [str(o) for o in parties],
        },
    )
    return version


async def expire_version(
    session: AsyncSession, principal: Principal, version_id: UUID, *, today: date, reason: str | None
) -> ContractVersion:
    """Record that an active version ran to its end date."""
    contract, version = await lock_version(session, principal, version_id)
    require_editor(principal, contract.partnership_id)
    if version.status != "active":
        raise InvalidTransition(f"only the active version can expire; this one is {version.status}")
    if today <= version.end_date:
        raise InvalidTransition(f"the version runs until {version.end_date}", end_date=str(version.end_date))
    version.status = "expired"
    version.ended_at = version.updated_at = now()
    version.end_reason = reason
    await session.flush()
    await record_event(
        session,
        principal,
        contract.partnership_id,
        version,
        type="contract.expired",
        data={"end_date": version.end_date.isoformat()},
    )
    return version
