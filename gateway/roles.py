"""The token contract's partner types and membership roles as GraphQL enums, for every domain module that
names one (partners, webhook audiences) without importing the other."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

import strawberry

from kit import partners


def _graphql_enum(name: str, values: Iterable[str]) -> type[enum.Enum]:
    """A GraphQL enum of the token contract's values (`LEGAL_ADVISER` for "legal_adviser"), so the schema
    follows kit/partners.py instead of spelling the list again."""
    members = cast(type[enum.Enum], enum.Enum(name, [(value.upper(), value) for value in values]))
    return strawberry.enum(members)


if TYPE_CHECKING:  # the members exist only at run time, built from kit's lists
    PartnerType = enum.Enum
    MembershipRole = enum.Enum
else:
    PartnerType = _graphql_enum("PartnerType", partners.PARTNER_TYPES)
    MembershipRole = _graphql_enum("MembershipRole", partners.MEMBERSHIP_ROLES)
