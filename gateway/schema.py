"""The gateway's schema, merged from the per-domain query types."""

import strawberry
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)

from gateway.partners import PartnerQuery


@strawberry.type
class Query(PartnerQuery):
    pass


def build_schema() -> strawberry.Schema:
    # Extensions are passed as classes/factories: strawberry instantiates them per request.
    return strawberry.Schema(
        query=Query,
        extensions=[
            lambda: QueryDepthLimiter(max_depth=12),
            lambda: MaxAliasesLimiter(max_alias_count=30),
            lambda: MaxTokensLimiter(max_token_count=2000),
            lambda: ParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
        ],
    )
