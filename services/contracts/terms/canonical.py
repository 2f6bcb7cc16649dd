"""The canonical form a signature commits to: RFC 8785 (JCS) bytes of the normalised document and their
SHA-256. Normalising writes every amount to exactly the currency's minor unit and every other decimal in
its shortest form, so two documents that mean the same thing hash the same."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any
from uuid import UUID

import rfc8785

from services.contracts.terms.money import quantum


def fix_money(amount: Decimal | None, currency: str) -> str | None:
    return None if amount is None else str(amount.quantize(quantum(currency)))


def explicit_sole_payer(document: dict[str, Any], payers: list[UUID]) -> None:
    """A sole payer pays everything: say so, so every reader finds an explicit split."""
    if document.get("payer_split") is None and len(payers) == 1:
        document["payer_split"] = {
            "method": "fixed",
            "shares": [{"organisation_id": str(payers[0]), "percent": "100"}],
        }


def canonical_json(document: Any) -> bytes:
    """RFC 8785 (JCS) bytes of a JSON document."""
    data: bytes = rfc8785.dumps(document)
    return data


def content_hash(document: Any) -> str:
    """The hex SHA-256 of the document's canonical JSON: what a signature commits to."""
    return hashlib.sha256(canonical_json(document)).hexdigest()
