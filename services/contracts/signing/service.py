"""The signing rules: a proposal freezes a draft whose parties identity confirms, and fixes who must sign
it: its own signing parties (every outcome payer and provider always among them) and, for an amendment,
every party that had to sign the version it will supersede, so a signed contract is never replaced, nor a
party dropped from it, without that party's signature. Each of them signs once; the last signature
activates the version and supersedes the previous active one.

Every write locks the contract row first (`lock_version`), so signatures arriving together cannot both
miss the activation, and activation takes a partnership-wide advisory lock, so two contracts of one
partnership cannot both become active over the same period.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.problems import InvalidParam
from services.contracts.clients.identity import IdentityClient
from services.contracts.errors import (
    AlreadySigned,
    InvalidTerms,
    InvalidTransition,
    NotASignatory,
    OverlappingActivePeriod,
    PartiesNotMembers,
    StaleVersion,
)
from services.contracts.events import record_event
from services.contracts.models import Contract, ContractVersion, Signature
from services.contracts.service import (
    lock_version,
    now,
    require_editor,
    require_if_match,
    required_signatories,
    version_etag,
)
from services.contracts.terms import Issue, Terms, check_terms, content_hash, parse_terms, proposal_issues
from services.contracts.terms.segments import amendment_segment_issues


async def propose_version(
    session: AsyncSession,
    principal: Principal,
    version_id: UUID,
    *,
    if_match: str | None,
    identity: IdentityClient,
    token: str,
) -> ContractVersion:
    """Freeze a draft for signature: its terms complete, its parties members, its content hash fixed."""
    contract, version = await lock_version(session, principal, version_id)
    require_editor(principal, contract.partnership_id)
    if version.status != "draft":
        raise InvalidTransition(f"only a draft can be proposed; this one is {version.status}")
    require_if_match(if_match, version_etag(version), required=False)
    terms = parse_terms(version.terms)
    issues = check_terms(terms) + proposal_issues(terms)
    issues += await _amendment_issues(session, contract, version)
    if issues:
        raise InvalidTerms.from_issues(issues, "terms")
    await _require_parties_are_members(contract, terms, identity=identity, token=token)
    await _require_no_overlap(session, contract, version)
    active = await session.scalar(
        select(ContractVersion).where(
            ContractVersion.contract_id == contract.id, ContractVersion.status == "active"
        )
    )
    signatories = terms.signing_parties()
    if active is not None:
        signatories += [o for o in required_signatories(active) if o not in signatories]
        version.supersedes_id = active.id
    version.signatories = signatories
    version.status = "proposed"
    version.content_hash = content_hash(version.terms)
    version.proposed_at = version.updated_at = now()
    await session.flush()
    return version


async def _amendment_issues(
    session: AsyncSession, contract: Contract, version: ContractVersion
) -> list[Issue]:
    active = await session.scalar(
        select(ContractVersion).where(
            ContractVersion.contract_id == contract.id, ContractVersion.status == "active"
        )
    )
    if active is None:
        return []
    issues = list(amendment_segment_issues(active.terms, version.terms))
    if version.start_date < active.start_date:
        issues.append(
            Issue(
                "start_date", f"an amendment cannot start before the version it amends ({active.start_date})"
            )
        )
    return issues


async def _require_parties_are_members(
    contract: Contract, terms: Terms, *, identity: IdentityClient, token: str
) -> None:
    roles = await identity.partnership_roles(contract.partnership_id, token=token)
    wrong = [
        InvalidParam(
            name=f"terms.parties.{i}.organisation_id",
            reason=f"not a member of the partnership in the role {party.role!r}",
        )
        for i, party in enumerate(terms.parties)
        if party.role not in roles.get(party.organisation_id, frozenset())
    ]
    if wrong:
        raise PartiesNotMembers("; ".join(p.name for p in wrong), invalid_params=wrong)


async def _require_no_overlap(session: AsyncSession, contract: Contract, version: ContractVersion) -> None:
    # Serialise activations within a partnership; the lock is released when the transaction ends.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"contracts:partnership:{contract.partnership_id}"},
    )
    clash = await session.scalar(
        select(ContractVersion.contract_id)
        .join(Contract, Contract.id == ContractVersion.contract_id)
        .where(
            Contract.partnership_id == contract.partnership_id,
            ContractVersion.contract_id != contract.id,
            ContractVersion.status == "active",
            ContractVersion.start_date <= version.end_date,
            ContractVersion.end_date >= version.start_date,
        )
        .limit(1)
    )
    if clash is not None:
        raise OverlappingActivePeriod(
            f"contract {clash} of this partnership is active over part of "
            f"{version.start_date}..{version.end_date}",
            invalid_params=[InvalidParam(name="terms.start_date", reason="overlaps another active contract")],
            contract_id=str(clash),
        )


async def sign_version(
    session: AsyncSession, principal: Principal, version_id: UUID, *, expected_hash: str | None
) -> tuple[ContractVersion, Signature]:
    """Record the caller's signature for its organisation; the last required one activates the version."""
    contract, version = await lock_version(session, principal, version_id)
    if principal.kind != "user" or principal.org_role != "signatory":
        raise NotASignatory(
            "only a user with the signatory role of their organisation may sign",
            invalid_params=[
                InvalidParam(name="org_role", reason=f"is {principal.org_role!r}, not 'signatory'")
            ],
        )
    if version.status != "proposed":
        raise InvalidTransition(f"only a proposed version can be signed; this one is {version.status}")
    required = required_signatories(version)
    if principal.organisation_id not in required:
        raise NotASignatory(
            "your organisation is not a party that must sign this version (nor one that signed the "
            "version it amends)",
            invalid_params=[InvalidParam(name="organisation_id", reason="not a party that must sign")],
        )
    assert version.content_hash is not None
    assert principal.user_id is not None
    if expected_hash is not None and expected_hash != version.content_hash:
        raise StaleVersion(
            "the version's content hash is not the one you read",
            invalid_params=[InvalidParam(name="body.content_hash", reason="does not match the version")],
        )
    if content_hash(version.terms) != version.content_hash:
        raise InvalidTransition("the stored terms no longer match their content hash; nothing can be signed")
    signed = await session.scalar(
        select(Signature).where(
            Signature.version_id == version.id, Signature.organisation_id == principal.organisation_id
        )
    )
    if signed is not None:
        raise AlreadySigned(
            f"your organisation signed at {signed.signed_at.isoformat()}",
            invalid_params=[InvalidParam(name="organisation_id", reason="has already signed")],
        )
    signature = Signature(
        version_id=version.id,
        organisation_id=principal.organisation_id,
        user_id=principal.user_id,
        content_hash=version.content_hash,
        signed_at=now(),
    )
    session.add(signature)
    version.updated_at = now()  # a new signature is a new representation: bump the ETag
    await session.flush()
    have = set(
        await session.scalars(
            select(Signature.organisation_id).where(
                Signature.version_id == version.id, Signature.content_hash == version.content_hash
            )
        )
    )
    if set(required) <= have:
        await _activate(session, principal, contract, version)
    return version, signature


async def _activate(
    session: AsyncSession, principal: Principal, contract: Contract, version: ContractVersion
) -> None:
    await _require_no_overlap(session, contract, version)
    at = now()
    previous = await session.scalar(
        select(ContractVersion)
        .where(ContractVersion.contract_id == contract.id, ContractVersion.status == "active")
        .with_for_update()
    )
    if (previous.id if previous is not None else None) != version.supersedes_id:
        # The version it was proposed to amend has ended meanwhile: its signatories agreed to amend a
        # contract that no longer runs, not to revive it.
        raise InvalidTransition(
            "the version this one amends is no longer active; withdraw this proposal",
            supersedes_id=str(version.supersedes_id),
        )
    if previous is not None:
        previous.status = "superseded"
        previous.superseded_at = previous.updated_at = at
        await session.flush()  # free the one-active slot before taking it
    version.status = "active"
    version.activated_at = version.updated_at = at
    await session.flush()
    await record_event(
        session,
        principal,
        contract.partnership_id,
        version,
        type="contract.activated",
        data={
            "supersedes_version_id": str(previous.id) if previous is not None else None,
            "start_date": version.start_date.isoformat(),
            "end_date": version.end_date.isoformat(),
            "signatories": [str(o) for o in required_signatories(version)],
        },
    )
