"""Who sees what: the one declarative source for the gateway's field visibility and for the authz tests.

Two levels, both deny-by-default for the listed names:
- **Schema variant by partner type.** A type or field listed here exists only in the schema of the partner
  types named; others do not see it at all, not even by introspection. Unlisted types and fields are
  visible to every partner type.
- **Rows by membership role.** Within a partnership, which membership roles may list which records. The
  services enforce the same rule on their side; the gateway is never the only wall.
"""

from __future__ import annotations

from typing import Final

PARTNER_TYPES: Final = ("municipality", "provider", "investor", "evaluator", "legal_adviser", "operator")
EVERYONE: Final = frozenset(PARTNER_TYPES)

# Individual-level data: never investors, advisers, observers' partner types or operators.
PERSON_LEVEL: Final = frozenset({"municipality", "provider", "evaluator"})

TYPES: Final[dict[str, frozenset[str]]] = {
    "Participant": PERSON_LEVEL,
    "ParticipantConnection": PERSON_LEVEL,
    "ParticipantEdge": PERSON_LEVEL,
    "Claim": PERSON_LEVEL,
    "ClaimConnection": PERSON_LEVEL,
    "ClaimEdge": PERSON_LEVEL,
    "Evidence": frozenset({"municipality", "provider"}),
    "AuditEntry": frozenset(
        {"operator", "municipality", "provider", "investor", "evaluator", "legal_adviser"}
    ),
}

FIELDS: Final[dict[str, frozenset[str]]] = {
    # Only the municipality of residence reads its own reference number.
    "Participant.municipalReference": frozenset({"municipality"}),
    # Evaluators work on pseudonymised records: no evidence documents.
    "Claim.evidence": frozenset({"municipality", "provider"}),
    "Partnership.participants": PERSON_LEVEL,
    "Partnership.claims": PERSON_LEVEL,
    "LedgerEvent.participantPseudonym": PERSON_LEVEL,
}

# Membership roles that may list person-level rows in a partnership.
ROWS: Final[dict[str, frozenset[str]]] = {
    "Participant": frozenset({"outcome_payer", "provider", "evaluator"}),
    "Claim": frozenset({"outcome_payer", "provider", "evaluator"}),
}


def type_visible(partner_type: str, type_name: str) -> bool:
    return partner_type in TYPES.get(type_name, EVERYONE)


def field_visible(partner_type: str, type_name: str, field_name: str, returns: str | None) -> bool:
    if partner_type not in FIELDS.get(f"{type_name}.{field_name}", EVERYONE):
        return False
    return returns is None or type_visible(partner_type, returns)


def rows_visible(roles: frozenset[str], type_name: str) -> bool:
    return bool(roles & ROWS.get(type_name, frozenset()))
