"""The web origins of the redirect URIs enabled clients registered: the partner UIs that may call the
platform from a browser (kit/cors.py). Identity answers CORS from this set and publishes it at
`GET /v1/cors-origins` for the other processes. It holds origins only, no client id or name; a browser
learns whether one origin is allowed from any answer anyway."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.cors import origin_of
from services.identity.models import OAuthClient


async def registered_origins(session: AsyncSession) -> list[str]:
    uris = await session.scalars(
        select(func.unnest(OAuthClient.redirect_uris)).where(OAuthClient.disabled_at.is_(None)).distinct()
    )
    return sorted({origin for uri in uris if (origin := origin_of(uri)) is not None})
