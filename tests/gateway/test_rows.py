"""The one construction of GraphQL objects from service rows (gateway/rows.py): fields by name, converted by
their GraphQL types, so a field added to a row and a type needs no copy in between."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest

from gateway.claims import CapCut, Claim, ClaimStatus
from gateway.clients.contracts import ContractVersionRow, DisclosureRow
from gateway.clients.outcomes import ClaimRow
from gateway.contracts import ContractVersion, ContractVersionStatus
from gateway.disclosure import Disclosure, DisclosureSource, DisclosureStatus
from gateway.rows import from_row

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_enums_nested_rows_and_the_node_uuid_come_from_the_row() -> None:
    row = DisclosureRow.model_validate(
        {
            "partnership_id": str(uuid4()),
            "small_cell_threshold": 5,
            "blocks": [
                {
                    "code": "contract.title",
                    "status": "public",
                    "disputed": False,
                    "source": "set",
                    "description": "The title",
                },
            ],
        }
    )
    disclosure = Disclosure.from_row(row)
    assert disclosure.partnership_id == row.partnership_id
    [block] = disclosure.blocks
    assert (block.status, block.source) == (DisclosureStatus.PUBLIC, DisclosureSource.SET)


def test_a_list_the_row_leaves_out_is_empty_unless_the_type_allows_null() -> None:
    version_id = uuid4()
    row = ContractVersionRow.model_validate(
        {
            "id": str(version_id),
            "contract_id": str(uuid4()),
            "number": 1,
            "status": "draft",
            "terms": {"title": "Jobs", "currency": "DKK"},
            "start_date": "2026-01-01",
            "end_date": "2027-12-31",
            "updated_at": NOW.isoformat(),
        }
    )
    version = ContractVersion.from_row(row)
    assert version.uuid == version_id
    assert version.status is ContractVersionStatus.DRAFT
    assert (version.signatures, version.required_signatories) == ([], [])
    assert (version.title, version.currency) == ("Jobs", "DKK")
    claim_row = ClaimRow.model_validate(_claim(cut_reasons=None))
    assert Claim.from_row(claim_row).cut_reasons is None  # `[CapCut!]`, nullable: null stays null
    priced = Claim.from_row(
        ClaimRow.model_validate(_claim(cut_reasons=[{"cap": "contract", "amount": "5.00"}]))
    )
    assert priced.cut_reasons == [CapCut(cap="contract", amount=Decimal("5.00"))]
    assert priced.status is ClaimStatus.VERIFIED


def test_a_field_the_row_does_not_have_is_an_error_not_a_silent_null() -> None:
    row = DisclosureRow.model_validate(
        {"partnership_id": str(uuid4()), "small_cell_threshold": 5, "blocks": []}
    )
    with pytest.raises(AttributeError):
        from_row(Claim, row)


def _claim(**changes: object) -> dict[str, object]:
    return {
        "id": str(uuid4()),
        "partnership_id": str(uuid4()),
        "contract_id": str(uuid4()),
        "participant_id": str(uuid4()),
        "outcome_code": "job_start",
        "achievement_date": "2026-06-01",
        "status": "verified",
        "claimant_organisation_id": str(uuid4()),
        "version": 2,
        "created_at": NOW.isoformat(),
        **changes,
    }
