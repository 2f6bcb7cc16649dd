"""The revocation list over HTTP, for the platform's own services."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Response

from kit.db import DbSession
from kit.problems import problem_responses
from services.identity.dependencies import CurrentSettings, RevocationListReader
from services.identity.revocations import service
from services.identity.revocations.schemas import TokenRevocations

router = APIRouter(prefix="/v1", tags=["token revocations"])


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 §13.1.2: `*`, or any listed tag equal to ours under weak comparison."""
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


@router.get(
    "/token-revocations",
    response_model=TokenRevocations,
    responses={
        304: {"description": "The list is the one whose ETag was sent in If-None-Match"},
        **problem_responses(401, 403),
    },
)
async def read_token_revocations(
    session: DbSession,
    principal: RevocationListReader,
    settings: CurrentSettings,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    """What every verifier must refuse besides expired tokens: revoked token ids, and subjects whose older
    tokens a change superseded. Polled by contracts, outcomes and the gateway with their own clients
    (`tokens:revocations`); send the last ETag as If-None-Match and an unchanged list is a bodiless 304."""
    document = await service.revocation_list(
        session, token_lifetime=timedelta(seconds=settings.access_token_lifetime)
    )
    body = json.dumps(document, separators=(",", ":")).encode()
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if if_none_match is not None and _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
