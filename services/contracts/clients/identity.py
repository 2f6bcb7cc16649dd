"""What the contracts service asks identity: who is a member of a partnership, in which roles; and the
parties' names and org-id identifiers, for the open-data exports.

A tolerant reader: it accepts a list or a `{"items": [...], "next_cursor": ...}` page, reads only
`organisation_id` and `role` (or `roles`) of each membership, only `id`, `name`, `identifier` and
`partner_type` of each organisation, and ignores everything else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx

from services.contracts.errors import IdentityUnavailable, MembershipsUnreadable

MAX_PAGES = 50
BATCH = 100


@dataclass(frozen=True, slots=True)
class Organisation:
    id: UUID
    name: str
    identifier: str  # org-id form, `DK-CVR-12345678`
    partner_type: str


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

    async def organisations(self, ids: Sequence[UUID], *, token: str) -> dict[UUID, Organisation]:
        """The organisations by id that the caller may see (identity leaves out the others)."""
        found: dict[UUID, Organisation] = {}
        wanted = sorted(set(ids), key=str)
        for start in range(0, len(wanted), BATCH):
            batch = ",".join(str(i) for i in wanted[start : start + BATCH])
            try:
                response = await self._http.get(
                    f"{self._base_url}/v1/organisations",
                    params={"ids": batch, "limit": str(BATCH)},
                    headers={"Authorization": f"Bearer {token}"},
                )
            except httpx.HTTPError as exc:
                raise IdentityUnavailable(f"identity did not answer: {type(exc).__name__}") from exc
            if response.status_code in (401, 403):
                raise MembershipsUnreadable(
                    f"identity answered {response.status_code}; the export needs a token with partners:read",
                    required_scope="partners:read",
                )
            if response.status_code != 200:
                raise IdentityUnavailable(f"identity answered {response.status_code} for the organisations")
            try:
                body: Any = response.json()
                for item in body if isinstance(body, list) else body.get("items", []):
                    org = Organisation(
                        UUID(str(item["id"])),
                        str(item["name"]),
                        str(item["identifier"]),
                        str(item.get("partner_type", "")),
                    )
                    found[org.id] = org
            except (ValueError, AttributeError, TypeError, KeyError) as exc:
                raise IdentityUnavailable("identity sent organisations this service cannot read") from exc
        return found


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
