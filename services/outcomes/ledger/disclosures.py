"""What of a ledger event each audience receives, the same on every channel (feed, stream, webhooks, the
REST ledger, the export; the gateway reads the REST ledger).

A *person-level* event (`dk.effekt.participant.*`, `dk.effekt.claim.*`) is about one participant. From
record format 2 on, its hashed record holds `subject`, `actor` and the `COMMITTED_KEYS` of its `data` only
as salted commitments (chain.py); the values and salts are rows of `ledger_disclosures`, keyed by
(event, path), with the participant whose event it is. Every other event (statements, contracts,
aggregates, erasures) is partnership-level: in clear, for every partner.

An audience that may see the participant (`access.Audience.sees`: provider and evaluator, the outcome
payer for its residents) receives the event with the values back in place and their salts in
`ledgersalts` (an erased value stays a commitment), and on the feed, stream and webhooks also `pseudonym`,
`participantsegment` and `claimfacts`. Every other audience (investors, advisers, observers, the
operator, a payer for another municipality's resident) receives a sealed stub: the event's id, time and
place in the chain (`chain.sealed_stub`), nothing about the person. Events chained in format 1 are shaped
by the same rule, their participant read from their data (or their claim).

Of the partnership-level events, those that carry exact totals (`EXACT_TOTAL_TYPES`: a statement's
`statement.drafted`, `.issued`, `.paid`; an audit's `audit.opened`, `.closed`, with its claim counts) are
sealed too for an audience under the small-cell rule (one that sees no participant:
`access.reads_exact_counts` is the same test), since two drafts differenced, or an audit's counts, give
back what the rule withholds everywhere else; `statement.summarised` is their aggregate, in clear, and the
audit's totals are read under the rule over REST.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.outcomes import chain
from services.outcomes.access import Audience
from services.outcomes.models import LedgerDisclosure, OutcomeClaim, Participant

PERSON_LEVEL_PREFIXES = ("dk.effekt.participant.", "dk.effekt.claim.")
# The `data` keys of a person-level event that are committed: who, when, what was said about them, and
# which payer paid for them (a residence split names the municipality of residence).
COMMITTED_KEYS = frozenset(
    {
        "participant_id",
        "claim_id",
        "cohort",
        "reason",
        "enrolment_date",
        "exit_date",
        "achievement_date",
        "evidence_sha256",
        "split",
        "adjustments",
    }
)
# Of those, the free text the data controller may have erased (the value and its salt deleted).
FREE_TEXT_KEYS = frozenset({"cohort", "reason"})
# Extensions a person-level event carries only for audiences that see the participant.
PERSON_EXTENSIONS = ("pseudonym", "participantsegment", "claimfacts", chain.SALTS_EXTENSION)


# Partnership-level events holding exact totals and counts: sealed for audiences under the small-cell
# rule (those that see no participant), whose aggregate is `statement.summarised`.
EXACT_TOTAL_TYPES = frozenset(
    {
        "dk.effekt.statement.drafted",
        "dk.effekt.statement.issued",
        "dk.effekt.statement.paid",
        "dk.effekt.audit.opened",
        "dk.effekt.audit.closed",
    }
)


def is_person_level(type_: str) -> bool:
    return type_.startswith(PERSON_LEVEL_PREFIXES)


def sealed_for_counts(type_: str, audience: Audience) -> bool:
    """Whether a partnership-level event reaches `audience` as a sealed stub: it carries exact totals
    and the audience reads counts under the small-cell rule."""
    return type_ in EXACT_TOTAL_TYPES and not audience.sees_pseudonyms


def like_patterns() -> list[str]:
    """The types some audience may receive sealed, as SQL LIKE patterns (no `%` or `_` in them but the
    person-level prefixes' final `%`)."""
    return [prefix + "%" for prefix in PERSON_LEVEL_PREFIXES] + sorted(EXACT_TOTAL_TYPES)


@dataclass(frozen=True, slots=True)
class Committed:
    """A person-level event's hashed subject, actor and data, and the disclosures to store beside it."""

    subject: str
    actor: Any
    data: dict[str, Any]
    disclosures: list[tuple[str, str, Any]]  # (path, salt, value)


def commit(subject: str, actor: Mapping[str, Any], data: Mapping[str, Any]) -> Committed:
    """Replace the person-level values of an event with fresh salted commitments."""
    disclosures: list[tuple[str, str, Any]] = []
    salts = iter(chain.new_salts(2 + sum(key in COMMITTED_KEYS for key in data)))

    def sealed(path: str, value: Any) -> str:
        salt = next(salts)
        disclosures.append((path, salt, value))
        return chain.commitment(salt, value)

    committed_data = {
        key: sealed(f"data.{key}", value) if key in COMMITTED_KEYS else value for key, value in data.items()
    }
    return Committed(sealed("subject", subject), sealed("actor", dict(actor)), committed_data, disclosures)


# --- shaping stored events for an audience ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stored:
    """The columns of a stored event that shaping reads."""

    id: UUID
    partnership_id: UUID
    type: str
    canonical: bytes
    record_format: int
    # The record as its columns hold it (the REST ledger's, so an edited column shows); else the bytes'.
    record: dict[str, Any] | None = None


@dataclass(slots=True)
class _Person:
    participant_id: str | None = None
    claim_id: str | None = None
    disclosed: dict[str, tuple[str, Any]] = field(default_factory=dict)  # path → (salt, value)


@dataclass(frozen=True, slots=True)
class Shaped:
    """One event as an audience receives it; `visible` False for a sealed stub."""

    event: dict[str, Any]
    visible: bool


async def shape(
    session: AsyncSession,
    rows: Sequence[Stored],
    audiences: Mapping[UUID, Audience],
    *,
    person_extensions: bool = True,
) -> list[Shaped]:
    """Each row's CloudEvent for its partnership's audience: a partnership-level event in clear; a
    person-level one in full with its disclosures for an audience that sees the participant, else sealed.
    `person_extensions` adds `pseudonym`, `participantsegment` and `claimfacts` where it is in full."""
    records = [row.record if row.record is not None else orjson.loads(row.canonical) for row in rows]
    if not any(audience.sees_pseudonyms for audience in audiences.values()):
        # Nobody here sees any participant (an investor's feed, say): no lookups, every one sealed.
        return [
            Shaped(chain.event_of(record), True)
            if not is_person_level(row.type) and row.type not in EXACT_TOTAL_TYPES
            else Shaped(chain.sealed_stub(record, row.canonical), False)
            for row, record in zip(rows, records, strict=True)
        ]
    people = await _people(session, rows, records)
    participant_ids = {p.participant_id for p in people.values() if p.participant_id}
    participants = await _participants(session, participant_ids)
    shaped: list[Shaped] = []
    visible_claims: set[str] = set()
    for row, record in zip(rows, records, strict=True):
        audience = audiences.get(row.partnership_id, Audience())
        if not is_person_level(row.type):
            if sealed_for_counts(row.type, audience):
                shaped.append(Shaped(chain.sealed_stub(record, row.canonical), False))
            else:
                shaped.append(Shaped(chain.event_of(record), True))
            continue
        person = people.get(row.id, _Person())
        found = participants.get(person.participant_id or "")
        if found is None or found[0] != row.partnership_id or not audience.sees(found[1]):
            shaped.append(Shaped(chain.sealed_stub(record, row.canonical), False))
            continue
        event = chain.disclose(chain.event_of(record), person.disclosed)
        if person_extensions:
            event["pseudonym"] = found[2]
            if found[3] is not None:
                event["participantsegment"] = found[3]
            if person.claim_id:
                visible_claims.add(person.claim_id)
        shaped.append(Shaped(event, True))
    if visible_claims:
        facts = await _claim_facts(session, visible_claims)
        for row, item in zip(rows, shaped, strict=True):
            claim = people.get(row.id, _Person()).claim_id
            if item.visible and claim in facts:
                item.event["claimfacts"] = facts[claim]
    return shaped


async def _people(
    session: AsyncSession, rows: Sequence[Stored], records: Sequence[Mapping[str, Any]]
) -> dict[UUID, _Person]:
    """Whose each person-level event is, and its disclosures (format 2: the disclosure rows; format 1:
    its data, or its claim's participant)."""
    people: dict[UUID, _Person] = {}
    format_2 = [row.id for row in rows if row.record_format == 2 and is_person_level(row.type)]
    if format_2:
        found = await session.execute(
            select(
                LedgerDisclosure.event_id,
                LedgerDisclosure.path,
                LedgerDisclosure.participant_id,
                LedgerDisclosure.salt,
                LedgerDisclosure.value,
            ).where(LedgerDisclosure.event_id.in_(format_2))
        )
        for event_id, path, participant_id, salt, value in found:
            person = people.setdefault(event_id, _Person())
            if participant_id is not None:
                person.participant_id = str(participant_id)
            if salt is not None:
                person.disclosed[path] = (salt, value)
                if path == "data.claim_id":
                    person.claim_id = str(value)
    claims_of: dict[UUID, str] = {}
    for row, record in zip(rows, records, strict=True):
        if row.record_format != 1 or not is_person_level(row.type):
            continue
        data = record.get("data") or {}
        person = people.setdefault(row.id, _Person())
        person.participant_id = _text(data.get("participant_id"))
        person.claim_id = _text(data.get("claim_id"))
        if person.participant_id is None and person.claim_id is not None:
            claims_of[row.id] = person.claim_id
    if claims_of:
        ids = set()
        for claim in claims_of.values():
            with contextlib.suppress(ValueError):
                ids.add(UUID(claim))
        owners = {
            str(cid): str(pid)
            for cid, pid in await session.execute(
                select(OutcomeClaim.id, OutcomeClaim.participant_id).where(OutcomeClaim.id.in_(ids))
            )
        }
        for event_id, claim in claims_of.items():
            people[event_id].participant_id = owners.get(claim)
    return people


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


async def _participants(
    session: AsyncSession, ids: Iterable[str]
) -> dict[str, tuple[UUID, str, str, str | None]]:
    """By participant id: partnership, municipality code, pseudonym and segment."""
    wanted = set()
    for pid in ids:
        with contextlib.suppress(ValueError):
            wanted.add(UUID(pid))
    if not wanted:
        return {}
    rows = await session.execute(
        select(
            Participant.id,
            Participant.partnership_id,
            Participant.municipality_code,
            Participant.pseudonym,
            Participant.segment,
        ).where(Participant.id.in_(wanted))
    )
    return {str(pid): (p, code, pseudonym, segment) for pid, p, code, pseudonym, segment in rows}


async def _claim_facts(session: AsyncSession, claim_ids: Iterable[str]) -> dict[str, str]:
    wanted = set()
    for c in claim_ids:
        with contextlib.suppress(ValueError):
            wanted.add(UUID(c))
    rows = await session.execute(
        select(OutcomeClaim.id, OutcomeClaim.facts).where(
            OutcomeClaim.id.in_(wanted), OutcomeClaim.facts.is_not(None)
        )
    )
    return {str(cid): json.dumps(facts, separators=(",", ":"), sort_keys=True) for cid, facts in rows}
