"""The disclosable blocks of a partnership's registry and results, and the four statuses.

Every block starts at `partnership` (members only) unless the signed terms say otherwise (an optional
`disclosure` map in the terms, `terms/disclosure.py`); the outcome payers change it from there, and each
change is audited (`service.py`). Where several contracts' terms name one block, the strictest wins
(`private` > `partnership` = `disputed` > `public`), so no contract publishes what another withheld.

Only `public` reaches an export or the public read; `disputed` is shown to members with a flag; `private`
is withheld even from the exports members read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    PARTNERSHIP = "partnership"
    DISPUTED = "disputed"


# Larger is stricter; `disputed` withholds as much as `partnership` from an export.
STRICTNESS: Mapping[Status, int] = {
    Status.PUBLIC: 0,
    Status.DISPUTED: 1,
    Status.PARTNERSHIP: 1,
    Status.PRIVATE: 2,
}
DEFAULT = Status.PARTNERSHIP


@dataclass(frozen=True, slots=True)
class Block:
    code: str
    description: str
    exported_as: str


BLOCKS: tuple[Block, ...] = (
    Block("contract.title", "The contract's title", "INDIGO `name`; OCDS `contracts[].title`"),
    Block(
        "contract.period",
        "Start and end dates and the stage the contract is in",
        "INDIGO `dates`, `stage_development`, service provisions' dates; OCDS `contracts[].period`, "
        "`contracts[].status`",
    ),
    Block(
        "contract.target_group",
        "Target group and eligibility criteria",
        "INDIGO `service_and_beneficiaries.target_population`; OCDS `contracts[].description`",
    ),
    Block(
        "contract.max_participants",
        "How many participants the contract is for",
        "INDIGO `targeted_number_service_users_or_beneficiaries_total`",
    ),
    Block(
        "contract.parties",
        "The organisations (names, org-id identifiers) and their roles",
        "INDIGO `organisations`, outcome payment commitments, investments, service provisions, "
        "intermediary services; OCDS `parties`, `buyer`, `awards[].suppliers`",
    ),
    Block(
        "contract.signatories",
        "Who signed each version, and when",
        "INDIGO `dates.outcomes_contract_signed`; OCDS `contracts[].signatories`, `dateSigned`",
    ),
    Block(
        "contract.outcome_metrics",
        "The outcomes paid for: names, definitions, evidence",
        "INDIGO `outcome_metrics`; OCDS `contracts[].milestones`",
    ),
    Block(
        "contract.outcome_pricing",
        "The price of each outcome (tariffs, bands, tiers, segments)",
        "INDIGO `outcome_pricings`",
    ),
    Block(
        "contract.caps",
        "The contract's caps: the most it can pay",
        "INDIGO `maximum_potential_outcome_payment`; OCDS `contracts[].value`",
    ),
    Block(
        "contract.payer_split",
        "How payment is divided between the outcome payers",
        "INDIGO outcome payment commitments' maxima per payer",
    ),
    Block(
        "contract.amendments",
        "The amendments: when, why (rationale) and what changed",
        "OCDS `contracts[].amendments`, one release per version",
    ),
    Block(
        "results.engaged",
        "How many participants were enrolled (small-cell rule applies)",
        "INDIGO `actual_number_service_users_or_beneficiaries_total`, project-level result",
    ),
    Block(
        "results.outcomes",
        "Verified outcomes per outcome and month (small-cell rule applies)",
        "INDIGO `results`",
    ),
    Block(
        "results.payments",
        "Outcome payments earned and pending (follow their counts under the small-cell rule)",
        "INDIGO `outcome_payments`, `total_outcome_payments_made`",
    ),
)
CODES: frozenset[str] = frozenset(b.code for b in BLOCKS)


def strictest(statuses: Iterable[Status]) -> Status | None:
    """The status that withholds most; `private` over `partnership` over `disputed` over `public`."""
    found = sorted(statuses, key=lambda s: (STRICTNESS[s], s == Status.PARTNERSHIP))
    return found[-1] if found else None


def effective(
    chosen: Mapping[str, Status], from_terms: Iterable[Mapping[str, Status]]
) -> dict[str, tuple[Status, str]]:
    """Each block's status and where it comes from: what the payers chose (`set`), else the strictest of
    the signed terms (`terms`), else the default (`default`)."""
    declared: dict[str, list[Status]] = {}
    for document in from_terms:
        for code, status in document.items():
            declared.setdefault(code, []).append(status)
    result: dict[str, tuple[Status, str]] = {}
    for block in BLOCKS:
        if block.code in chosen:
            result[block.code] = (chosen[block.code], "set")
        elif (terms := strictest(declared.get(block.code, []))) is not None:
            result[block.code] = (terms, "terms")
        else:
            result[block.code] = (DEFAULT, "default")
    return result


def public(statuses: Mapping[str, tuple[Status, str]] | Mapping[str, Status]) -> frozenset[str]:
    """The blocks an export may show."""
    return frozenset(
        code
        for code, value in statuses.items()
        if (value[0] if isinstance(value, tuple) else value) == Status.PUBLIC
    )
