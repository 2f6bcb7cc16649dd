"""The revocation list's shape (what `kit.revocations.Revocations.from_document` reads)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class StandingMembership(BaseModel):
    """A membership the organisation held right after the change. Named apart from the directory's
    `MembershipRead`: the OpenAPI document names a schema by its class, and two alike get module paths."""

    partnership_id: str
    role: str


class SupersededRead(BaseModel):
    kind: Literal["organisation", "user", "client"]
    id: str = Field(description="The organisation or user id, or the OAuth client id.")
    epoch: int = Field(description="Tokens of this subject whose `epochs` claim is below this are void.")
    memberships: list[StandingMembership] | None = Field(
        default=None,
        description="Organisations only: every partnership membership the organisation had right after the "
        "change, so a service can re-confirm what it recorded under older tokens instead of dropping it.",
    )


class TokenRevocations(BaseModel):
    revoked: list[str] = Field(description="`jti`s of revoked access tokens that have not yet expired.")
    sessions: list[str] = Field(
        description="Ended sign-ins (`sid`, a refresh-token family): every access token carrying one is void."
    )
    superseded: list[SupersededRead]
