"""The gateway's schema: one set of types, one variant per partner type (see policy.py)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext
from strawberry.types.base import StrawberryObjectDefinition, get_object_definition
from strawberry.types.field import StrawberryField
from strawberry.types.union import StrawberryUnion

from gateway import policy
from gateway.claims import ClaimMutation
from gateway.contracts import ContractMutation
from gateway.disclosure import DisclosureMutation
from gateway.error_log import log_errors
from gateway.hardening import MaskUnexpectedErrors, cost_limit_rule
from gateway.nodes import NodeQuery
from gateway.participants import ParticipantMutation
from gateway.partners import PartnerMutation, PartnerQuery
from gateway.results import RefusedArguments
from gateway.statements import StatementMutation
from gateway.subscriptions import Subscription
from gateway.webhooks import WebhookMutation

MAX_DEPTH = 10
MAX_ALIASES = 20
MAX_TOKENS = 2000
# A 200-row dashboard with nested lists (tests/gateway/test_fanout.py) costs about 7200.
MAX_COST = 10_000


@strawberry.type
class Query(PartnerQuery, NodeQuery):
    pass


@strawberry.type
class Mutation(
    PartnerMutation,
    ContractMutation,
    DisclosureMutation,
    ParticipantMutation,
    ClaimMutation,
    StatementMutation,
    WebhookMutation,
):
    pass


for _mutation in get_object_definition(Mutation, strict=True).fields:
    _mutation.extensions.append(RefusedArguments())


class ServiceCalls(SchemaExtension):
    """Reports how many calls the operation made to each service (`extensions.serviceCalls`), outside
    production: it is how the tests hold nested queries to a bounded fan-out."""

    def get_results(self) -> dict[str, Any]:
        context = self.execution_context.context
        if getattr(context, "report_calls", False):
            return {"serviceCalls": dict(context.services.calls)}
        return {}


def _returned_type_names(field: StrawberryField) -> tuple[str, ...]:
    """The object types a field may return, through lists and optionals, and every member of a union (a
    mutation result naming a hidden type is hidden with it)."""
    field_type: Any = field.type
    while hasattr(field_type, "of_type"):
        field_type = field_type.of_type
    if isinstance(field_type, StrawberryUnion):
        members = [get_object_definition(t) for t in field_type.types]
        return tuple(d.name for d in members if d is not None)
    definition = get_object_definition(field_type)
    return (definition.name,) if definition else ()


class PartnerSchema(strawberry.Schema):
    """A schema that holds only the types and fields `partner_type` may see."""

    def __init__(self, partner_type: str, **kwargs: Any) -> None:
        self.partner_type = partner_type
        super().__init__(**kwargs)

    def get_fields(self, type_definition: StrawberryObjectDefinition) -> list[StrawberryField]:
        return [
            field
            for field in type_definition.fields
            if policy.field_visible(
                self.partner_type,
                type_definition.name,
                field.graphql_name or _camel(field.python_name),
                _returned_type_names(field),
            )
        ]

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Codes and a hash, never the document, variables or messages (see error_log.py)."""
        context = execution_context
        log_errors(
            errors,
            query=context.query if context else None,
            operation_name=context.operation_name if context else None,
        )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@cache
def build_schema(partner_type: str = "operator", *, production: bool = False) -> strawberry.Schema:
    # Extensions are passed as classes/factories: strawberry instantiates them per execution. The limits'
    # rule classes are made once here: ValidationCache keys on them, and the limiters make a new class per
    # instance, so building them per execution re-validated every document (a third of a dashboard's CPU).
    rules = [
        *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
        cost_limit_rule(MAX_COST),
    ]
    extensions: list[Any] = [
        lambda: AddValidationRules(rules),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: ParserCache(maxsize=1024),
        lambda: ValidationCache(maxsize=1024),
        ServiceCalls,
    ]
    if production:
        extensions += [DisableIntrospection, MaskUnexpectedErrors]
    return PartnerSchema(
        partner_type,
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=True),
    )


def schemas(*, production: bool) -> dict[str, strawberry.Schema]:
    return {p: build_schema(p, production=production) for p in policy.PARTNER_TYPES}


def full_schema() -> strawberry.Schema:
    """Every type and field, unfiltered: what `schema.graphql` documents (no caller is ever served it)."""
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(disable_field_suggestions=True),
    )


def sdl_files(root: Path) -> dict[Path, str]:
    """The checked-in SDL: `schema.graphql` and `schemas/<partner type>.graphql` (see tests' drift check)."""
    files = {root / "schema.graphql": full_schema().as_str() + "\n"}
    for partner_type in policy.PARTNER_TYPES:
        files[root / "schemas" / f"{partner_type}.graphql"] = build_schema(partner_type).as_str() + "\n"
    return files


if __name__ == "__main__":  # python -m gateway.schema: rewrite the checked-in SDL after a schema change
    repository = Path(__file__).resolve().parent.parent
    for path, text in sdl_files(repository).items():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(repository)}")
