"""Contract terms (docs/contract-terms.md): the versioned pydantic shapes (`v1`, `v2`, chosen by
`schema_version`), the rules between their fields (one module per mechanism), the canonical form and its
content hash, and a structured diff. Pure logic, no I/O.

Field-level rules (types, ranges, patterns, unknown keys) live on the models so FastAPI reports them
against the request; rules relating fields to one another live in each version's `check`, which names
each offending field by its dotted path for the API's `invalid_params`. Dispatch on the version is
exhaustive: an unknown `schema_version` is refused, never read as the nearest one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, assert_never

from pydantic import TypeAdapter, WrapValidator

from services.contracts.terms import v1, v2
from services.contracts.terms.canonical import canonical_json, content_hash
from services.contracts.terms.diff import diff_documents
from services.contracts.terms.issues import Issue
from services.contracts.terms.names import Wording
from services.contracts.terms.parties import proposal_issues as _party_proposal_issues
from services.contracts.terms.strict import dispatch
from services.contracts.terms.v1 import TermsV1
from services.contracts.terms.v2 import TermsV2

SCHEMA_VERSIONS: Mapping[int, type[TermsV1] | type[TermsV2]] = {1: TermsV1, 2: TermsV2}

# A document without `schema_version` is version 1, as every document was before version 2.
Terms = Annotated[TermsV1 | TermsV2, WrapValidator(dispatch("schema_version", SCHEMA_VERSIONS, default=1))]

_TERMS: TypeAdapter[TermsV1 | TermsV2] = TypeAdapter(Terms)


def parse_terms(document: Any) -> TermsV1 | TermsV2:
    """A stored or submitted document as the model of its schema version (raises ValidationError)."""
    return _TERMS.validate_python(document)


def check_terms(terms: TermsV1 | TermsV2) -> list[Issue]:
    """Every cross-field rule `terms` breaks; empty when the document is coherent."""
    match terms:
        case TermsV1():
            return list(v1.check(terms))
        case TermsV2():
            return list(v2.check(terms))
        case _:
            assert_never(terms)


def proposal_issues(terms: TermsV1 | TermsV2) -> list[Issue]:
    """Rules a version must meet before it can be proposed for signature, beyond `check_terms`."""
    return _party_proposal_issues(terms.parties)


def normalised(terms: TermsV1 | TermsV2) -> dict[str, Any]:
    """The terms as JSON in their canonical form (call after `check_terms` found nothing), so two
    documents that mean the same thing hash the same."""
    match terms:
        case TermsV1():
            return v1.normalised(terms)
        case TermsV2():
            return v2.normalised(terms)
        case _:
            assert_never(terms)


__all__ = [
    "SCHEMA_VERSIONS",
    "Issue",
    "Terms",
    "TermsV1",
    "TermsV2",
    "Wording",
    "canonical_json",
    "check_terms",
    "content_hash",
    "diff_documents",
    "normalised",
    "parse_terms",
    "proposal_issues",
]
