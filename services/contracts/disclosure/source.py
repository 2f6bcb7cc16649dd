"""What an export is rendered from, as plain values: the partnership's contracts and the versions that
governed, the parties' names and identifiers, the published results, and which blocks are public. The
renderers (`indigo.py`, `ocds.py`) are pure functions of this; `service.py` gathers it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID


@dataclass(frozen=True, slots=True)
class SignatureFacts:
    organisation_id: UUID
    signed_at: datetime


@dataclass(frozen=True, slots=True)
class VersionFacts:
    id: UUID
    number: int
    status: str
    terms: Mapping[str, Any]
    activated_at: datetime
    ended_at: datetime | None
    terminated_on: date | None
    rationale: str | None
    signatures: Sequence[SignatureFacts]


@dataclass(frozen=True, slots=True)
class ContractFacts:
    id: UUID
    versions: Sequence[VersionFacts]  # those that governed, by number; never empty

    @property
    def current(self) -> VersionFacts:
        return self.versions[-1]


@dataclass(frozen=True, slots=True)
class OrganisationFacts:
    name: str
    identifier: str  # org-id, `DK-CVR-12345678`
    partner_type: str


@dataclass(frozen=True, slots=True)
class Source:
    partnership_id: UUID
    contracts: Sequence[ContractFacts]
    organisations: Mapping[UUID, OrganisationFacts]
    results: Mapping[str, Any] | None  # `results.publish` output, or None when not read
    public: frozenset[str]
    ocid_prefix: str
    base_url: str

    def shows(self, *blocks: str) -> bool:
        return all(b in self.public for b in blocks)

    def organisation(self, organisation_id: UUID | str) -> OrganisationFacts | None:
        return self.organisations.get(UUID(str(organisation_id)))


def number(amount: Decimal | str) -> int | float:
    """A decimal amount as the JSON number both standards use: an integer when whole; otherwise a float,
    which prints back as the same decimal for the 15 significant digits the registry allows."""
    value = Decimal(amount)
    if value == value.to_integral_value():
        return int(value)
    return float(value)


# Which block a terms path belongs to (its first key; outcome prices by the key under the outcome).
PRICE_KEYS = frozenset({"tariff", "tiers", "bands", "payer_tariffs", "cap"})
TOP_LEVEL = {
    "title": "contract.title",
    "start_date": "contract.period",
    "end_date": "contract.period",
    "target_group": "contract.target_group",
    "eligibility_criteria": "contract.target_group",
    "max_participants": "contract.max_participants",
    "parties": "contract.parties",
    "caps": "contract.caps",
    "payer_split": "contract.payer_split",
}


def block_of(path: str) -> str | None:
    """The disclosure block a dotted terms path (`outcomes.job_start.tariff`) falls in, or None for the
    mechanics no export shows (payment period, facts, segments, termination, disclosure itself)."""
    parts = path.split(".")
    if parts[0] == "outcomes":
        return (
            "contract.outcome_pricing"
            if len(parts) > 2 and parts[2] in PRICE_KEYS
            else "contract.outcome_metrics"
        )
    return TOP_LEVEL.get(parts[0])
