"""What the contracts service asks identity: who is a member of a partnership, in which roles.

A tolerant reader: it accepts a list or a `{"items": [...], "next_cursor": ...}` page, reads only
`organisation_id` and `role` (or `roles`) of each membership, and ignores everything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

import httpx

from services.contracts.errors import IdentityUnavailable, MembershipsUnreadable

MAX_PAGES = 50


class IdentityClient:
    def __init__(self, base_url: str, *, http: httpx.AsyncClient) -> None:
        self._base_url = base_url.rstrip("/")
        self._http = http

    async def partnership_roles(self, partnership_id: UUID, *, token: str) -> Mapping[UUID, frozenset[str]]:
        """Each member organisation of the partnership and its roles there, as the caller may see them."""
        roles: dict[UUID, set[str]] = {}
        url = f"{self._base_url}/v1/partnerships/{partnership_id}/memberships"
        params: dict[str, str] = {"limit": "500"}
        for _ in range(MAX_PAGES):
            try:
                response = await self._http.get(
                    url, params=params, headers={"Authorization": f"Bearer {token}"}
                )
            except httpx.HTTPError as exc:
                raise IdentityUnavailable(f"identity did not answer: {type(exc).__name__}") from exc
            if response.status_code in (401, 403, 404):
                # Identity's answer to this caller, not an outage: proposing needs the partners:read scope.
                raise MembershipsUnreadable(
                    f"identity answered {response.status_code}; proposing needs a token with partners:read",
                    required_scope="partners:read",
                )
            if response.status_code != 200:
                raise IdentityUnavailable(f"identity answered {response.status_code} for the memberships")
            try:
                body: Any = response.json()
                items = body if isinstance(body, list) else body.get("items", [])
                for item in items:
                    _read_membership(item, roles)
            except (ValueError, AttributeError, TypeError) as exc:
                raise IdentityUnavailable("identity sent memberships this service cannot read") from exc
            cursor = body.get("next_cursor") if isinstance(body, dict) else None
            if not cursor:
                break
            params["cursor"] = cursor
        return {org: frozenset(r) for org, r in roles.items()}


def _read_membership(item: Any, roles: dict[UUID, set[str]]) -> None:
    if not isinstance(item, dict):
        return
    if item.get("status") not in (None, "active"):
        return
    org = item.get("organisation_id")
    if org is None and isinstance(item.get("organisation"), dict):
        org = item["organisation"].get("id")
    if org is None:
        return
    found = roles.setdefault(UUID(str(org)), set())
    if isinstance(item.get("role"), str):
        found.add(item["role"])
    for role in item.get("roles") or []:
        if isinstance(role, str):
            found.add(role)
