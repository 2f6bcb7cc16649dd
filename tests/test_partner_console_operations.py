"""The partner console's operations (examples/partner-console/src/operations/) are valid against the SDL
of each partner type whose view sends them: a field the gateway's policy withholds from a type is not in
its schema, so a view asking for it would fail here before it failed in a browser."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import build_schema, parse, validate

from gateway.hardening import TrustedDocuments, document_id

ROOT = Path(__file__).resolve().parents[1]
OPERATIONS = ROOT / "examples" / "partner-console" / "src" / "operations"
EVERY_VIEW = ("console", "ledger-head", "ledger")
# Each partner type's view (src/views/*.tsx) and what it sends besides what every view sends (App.tsx).
VIEWS = {
    "municipality": ("municipality", "decide"),
    "provider": ("provider",),
    "investor": ("investor",),
    "evaluator": ("evaluator",),
}


@pytest.mark.parametrize("partner_type", sorted(VIEWS))
def test_each_view_asks_only_for_what_its_partner_type_may_see(partner_type: str) -> None:
    schema = build_schema((ROOT / "schemas" / f"{partner_type}.graphql").read_text())
    for name in (*EVERY_VIEW, *VIEWS[partner_type]):
        errors = validate(schema, parse((OPERATIONS / f"{name}.graphql").read_text()))
        assert errors == [], f"{name}.graphql as {partner_type}: {errors}"


def test_the_investor_view_is_refused_by_a_payers_desk_operation() -> None:
    """The check can fail: the municipality's desk names participants, which the investor's schema lacks."""
    schema = build_schema((ROOT / "schemas" / "investor.graphql").read_text())
    errors = validate(schema, parse((OPERATIONS / "municipality.graphql").read_text()))
    assert any("participants" in error.message for error in errors)


def test_every_operation_file_belongs_to_a_view() -> None:
    used = {*EVERY_VIEW, *(name for names in VIEWS.values() for name in names)}
    assert {path.stem for path in OPERATIONS.glob("*.graphql")} == used


def test_every_operation_is_a_trusted_document_so_the_console_runs_against_production() -> None:
    """Production runs only trusted documents (gateway/hardening.py reads this file): every operation the
    console sends must be registered under the id of its exact text."""
    trusted = TrustedDocuments.from_file(ROOT / "gateway" / "trusted_documents.json")
    for path in sorted(OPERATIONS.glob("*.graphql")):
        text = path.read_text()
        assert text in trusted, f"{path.name} is not registered: run examples/partner-console/trust.py"
        assert trusted.get(document_id(text)) == text
