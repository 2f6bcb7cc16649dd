"""What the outcome rules need beyond the session and the caller: the registry, the caller's token to
forward to it, the key ring, the evidence size limit, and the rules' clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from services.outcomes.clients.contracts import ContractsClient
from services.outcomes.pseudonyms import PartnershipKeys


@dataclass(frozen=True, slots=True)
class Deps:
    """The rules' collaborators, built per request by `dependencies.get_deps`."""

    contracts: ContractsClient
    token: str
    keys: PartnershipKeys
    max_evidence_bytes: int = 5 * 1024 * 1024


def today() -> date:
    """The rules' date: UTC, so every replica agrees where a day ends."""
    return datetime.now(UTC).date()
