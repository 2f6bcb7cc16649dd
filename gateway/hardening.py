"""Limits a public GraphQL endpoint needs that strawberry does not ship: a query cost limit, trusted
(persisted) documents, and error masking that keeps domain errors but hides everything unexpected.

Depth, alias and token limits are strawberry's own extensions (see schema.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

# A list argument given as a variable (or not at all) is costed at this page size.
DEFAULT_PAGE = 50
PAGE_ARGUMENTS = ("first", "last", "limit")


class DomainError(Exception):
    """An error the client may see verbatim (a refused permission, a missing row, a service's problem)."""

    def __init__(self, message: str, *, code: str, **extensions: Any) -> None:
        super().__init__(message)
        self.code = code
        self.extensions = {"code": code, **extensions}


def _page_size(node: FieldNode) -> int:
    for argument in node.arguments or ():
        if argument.name.value in PAGE_ARGUMENTS:
            if isinstance(argument.value, IntValueNode):
                return max(1, int(argument.value.value))
            return DEFAULT_PAGE
    return 1


def selection_cost(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str] = frozenset(),
) -> int:
    """Each field costs 1, multiplied by the page sizes of the lists that contain it."""
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += _page_size(selection) * (1 + selection_cost(selection.selection_set, fragments, seen))
        elif isinstance(selection, InlineFragmentNode):
            total += selection_cost(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in seen or name not in fragments:
                continue  # cycles and unknown fragments are the standard rules' to report
            total += selection_cost(fragments[name].selection_set, fragments, seen | {name})
    return total


def cost_limit_rule(max_cost: int) -> type[ValidationRule]:
    class CostLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            document = context.document
            fragments = {
                d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
            }
            for definition in document.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                cost = selection_cost(definition.selection_set, fragments)
                if cost > max_cost:
                    name = definition.name.value if definition.name else "anonymous"
                    context.report_error(
                        GraphQLError(
                            f"Operation '{name}' costs {cost}, above the limit of {max_cost}; "
                            "ask for fewer items per page or fewer nested lists.",
                            definition,
                            extensions={"code": "query-too-costly", "cost": cost, "max_cost": max_cost},
                        )
                    )

    return CostLimit


def document_id(query: str) -> str:
    return "sha256:" + hashlib.sha256(query.encode()).hexdigest()


class TrustedDocuments:
    """The operations partner UIs ship, by `sha256:<hex>` id; in production the only ones accepted."""

    def __init__(self, documents: Iterable[str] = ()) -> None:
        self._by_id = {document_id(q): q for q in documents}

    @classmethod
    def from_file(cls, path: Path) -> TrustedDocuments:
        if not path.exists():
            return cls()
        data = json.loads(path.read_text())
        trusted = cls()
        for key, query in data.items():
            if document_id(query) != key:
                raise ValueError(f"{path}: {key} is not the SHA-256 of its document")
            trusted._by_id[key] = query
        return trusted

    def __contains__(self, query: str) -> bool:
        return document_id(query) in self._by_id

    def get(self, key: str) -> str | None:
        return self._by_id.get(key if key.startswith("sha256:") else f"sha256:{key}")


def is_client_safe(error: GraphQLError) -> bool:
    """Errors raised by GraphQL itself (syntax, validation, limits) and `DomainError`s are shown as is."""
    original = error.original_error
    return original is None or isinstance(original, DomainError)
