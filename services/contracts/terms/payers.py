"""How outcome payments are split between payers: fixed shares, the participant's municipality of
residence, or (version 2) mixed, where some payers pay fixed shares (a national outcome fund's top-up)
and the rest is split by one of the other methods; and a payer's own price for an outcome, paid by that
payer on top of the outcome's split price. Every payer named is an outcome payer party of the contract.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, WrapValidator

from services.contracts.terms.issues import Issue
from services.contracts.terms.money import Percent
from services.contracts.terms.segments import Price, Segments, price_issues
from services.contracts.terms.strict import Strict, dispatch


class Share(Strict):
    organisation_id: UUID
    percent: Percent


class FixedSplit(Strict):
    method: Literal["fixed"]
    shares: list[Share] = Field(min_length=1)


class ResidenceMunicipality(Strict):
    organisation_id: UUID
    municipality_code: str = Field(pattern=r"^[0-9]{3}$")


class ResidenceSplit(Strict):
    method: Literal["residence"]
    municipalities: list[ResidenceMunicipality] = Field(min_length=1)


RestSplit = Annotated[
    FixedSplit | ResidenceSplit,
    WrapValidator(dispatch("method", {"fixed": FixedSplit, "residence": ResidenceSplit})),
]


class MixedSplit(Strict):
    """`fixed` payers take their percentages of every payment; `rest` splits what remains."""

    method: Literal["mixed"]
    fixed: list[Share] = Field(min_length=1)
    rest: RestSplit


SPLIT_KINDS = {"fixed": FixedSplit, "residence": ResidenceSplit, "mixed": MixedSplit}
PayerSplit = Annotated[
    FixedSplit | ResidenceSplit | MixedSplit, WrapValidator(dispatch("method", SPLIT_KINDS))
]


class PayerTariff(Strict):
    organisation_id: UUID
    tariff: Price = Field(description="Paid by this payer alone, on top of the outcome's split price")


def _share_issues(shares: Sequence[Share], path: str, payers: Sequence[UUID]) -> Iterator[Issue]:
    seen: set[UUID] = set()
    for i, share in enumerate(shares):
        at = f"{path}.{i}.organisation_id"
        if share.organisation_id not in payers:
            yield Issue(at, "must be an outcome_payer party")
        if share.organisation_id in seen:
            yield Issue(at, "each payer has one share")
        seen.add(share.organisation_id)


def split_issues(
    split: FixedSplit | ResidenceSplit | MixedSplit | None, payers: Sequence[UUID], path: str = "payer_split"
) -> Iterator[Issue]:
    match split:
        case None:
            if len(payers) > 1:
                yield Issue(path, "say how outcome payments are split between the outcome payers")
        case FixedSplit():
            yield from _share_issues(split.shares, f"{path}.shares", payers)
            total = sum((s.percent for s in split.shares), Decimal(0))
            if total != 100:
                yield Issue(f"{path}.shares", f"percentages must sum to exactly 100, not {total}")
        case ResidenceSplit():
            seen_codes: set[str] = set()
            for i, municipality in enumerate(split.municipalities):
                if municipality.organisation_id not in payers:
                    yield Issue(
                        f"{path}.municipalities.{i}.organisation_id", "must be an outcome_payer party"
                    )
                if municipality.municipality_code in seen_codes:
                    yield Issue(f"{path}.municipalities.{i}.municipality_code", "each municipality once")
                seen_codes.add(municipality.municipality_code)
        case MixedSplit():
            yield from _share_issues(split.fixed, f"{path}.fixed", payers)
            fixed = sum((s.percent for s in split.fixed), Decimal(0))
            if fixed >= 100:
                yield Issue(f"{path}.fixed", f"fixed shares must leave a rest below 100, not {fixed}")
            yield from split_issues(split.rest, payers, f"{path}.rest")


def payer_tariff_issues(
    tariffs: Sequence[PayerTariff],
    path: str,
    payers: Sequence[UUID],
    segments: Segments | None,
    currency: str,
) -> Iterator[Issue]:
    seen: set[UUID] = set()
    for j, own in enumerate(tariffs):
        at = f"{path}.{j}"
        if own.organisation_id not in payers:
            yield Issue(f"{at}.organisation_id", "must be an outcome_payer party")
        if own.organisation_id in seen:
            yield Issue(f"{at}.organisation_id", "each payer has one price for the outcome")
        seen.add(own.organisation_id)
        yield from price_issues(own.tariff, f"{at}.tariff", segments, currency)
