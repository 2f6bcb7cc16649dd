"""A tolerant reader of the contract registry: the version in force on a date, and versions by id.

Only the fields pricing and claim checks use are read; unknown fields are ignored, so the registry may
grow. The caller's token is forwarded, so the registry applies its own authorisation. Versions are
immutable once proposed, so they are cached by id for the life of the process.

The registry's answer to "which version is in force on this date" is cached for `in_force_ttl` seconds
(default 5), per caller token, contract and date; concurrent misses share one registry call. It changes
only when a version is activated or the contract terminated, so a write checks against an answer at most
that old: a version activated (or a termination recorded) less than `in_force_ttl` seconds ago may not be
seen yet, as if the write had reached the registry that much earlier. Only found versions are cached; a
"none in force" answer is asked again every time. Keying by token keeps the registry's authorisation
per caller: another token, or the same caller's next token, asks the registry itself.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from datetime import date
from decimal import Decimal
from typing import Literal
from uuid import UUID

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kit.problems import Forbidden, Unauthorized
from services.outcomes.errors import ContractsUnavailable, NoVersionInForce


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Window(_Tolerant):
    anchor: Literal["enrolment", "outcome"] = "enrolment"
    anchor_outcome: str | None = None
    opens_after_days: int = 0
    closes_after_days: int | None = None


class Outcome(_Tolerant):
    code: str
    name: str = ""
    verifier_roles: list[str] = Field(default_factory=list)
    tariff: Decimal
    max_per_participant: int | None = None
    prerequisites: list[str] = Field(default_factory=list)
    window: Window | None = None


class Caps(_Tolerant):
    per_participant: Decimal | None = None
    contract_total: Decimal | None = None
    per_period: Decimal | None = None


class Share(_Tolerant):
    organisation_id: UUID
    percent: Decimal


class ResidenceMunicipality(_Tolerant):
    organisation_id: UUID
    municipality_code: str


class PayerSplit(_Tolerant):
    method: Literal["fixed", "residence"]
    shares: list[Share] = Field(default_factory=list)
    municipalities: list[ResidenceMunicipality] = Field(default_factory=list)


class Party(_Tolerant):
    organisation_id: UUID
    role: str


class Terms(_Tolerant):
    currency: str = "DKK"
    start_date: date
    end_date: date
    max_participants: int | None = None
    payment_period: str = "quarterly"
    parties: list[Party] = Field(default_factory=list)
    outcomes: list[Outcome]
    caps: Caps = Caps()
    payer_split: PayerSplit

    def outcome(self, code: str) -> Outcome | None:
        return next((o for o in self.outcomes if o.code == code), None)

    def payer_ids(self) -> list[UUID]:
        if self.payer_split.method == "fixed":
            return [s.organisation_id for s in self.payer_split.shares]
        return [m.organisation_id for m in self.payer_split.municipalities]


class ContractVersion(_Tolerant):
    id: UUID
    contract_id: UUID
    partnership_id: UUID
    number: int
    status: str
    terms: Terms


InForceKey = tuple[str, UUID, date]  # caller's token, contract, date


class ContractsClient:
    """One per process, sharing a connection pool."""

    def __init__(
        self, base_url: str, *, timeout: float = 10.0, cache_size: int = 512, in_force_ttl: float = 5.0
    ) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout)
        self._cache: OrderedDict[UUID, ContractVersion] = OrderedDict()
        self._cache_size = cache_size
        self._in_force_ttl = in_force_ttl
        self._in_force: OrderedDict[InForceKey, tuple[float, ContractVersion]] = OrderedDict()
        self._asking: dict[InForceKey, asyncio.Future[ContractVersion]] = {}  # registry calls under way

    async def aclose(self) -> None:
        await self._http.aclose()

    async def version_in_force(self, contract_id: UUID, on: date, *, token: str) -> ContractVersion:
        """The version governing `on`; `NoVersionInForce` when the registry has none (or hides it)."""
        key = (token, contract_id, on)
        known = self._in_force.get(key)
        if known is not None and time.monotonic() - known[0] < self._in_force_ttl:
            return known[1]
        asking = self._asking.get(key)
        if asking is None:
            # Its own task: a caller that goes away does not cancel the answer the others wait for.
            asking = self._asking[key] = asyncio.ensure_future(self._ask_in_force(key))
            asking.add_done_callback(lambda done: self._asked(key, done))
        return await asyncio.shield(asking)

    def _asked(self, key: InForceKey, done: asyncio.Future[ContractVersion]) -> None:
        del self._asking[key]
        if done.cancelled() or done.exception() is not None:
            return
        if self._in_force_ttl > 0:
            self._in_force[key] = (time.monotonic(), done.result())
            self._in_force.move_to_end(key)
            while len(self._in_force) > self._cache_size:
                self._in_force.popitem(last=False)

    async def _ask_in_force(self, key: InForceKey) -> ContractVersion:
        token, contract_id, on = key
        response = await self._get(
            f"/v1/contracts/{contract_id}/versions/in-force", token, params={"on": on.isoformat()}
        )
        if response.status_code == 404:
            raise NoVersionInForce.field(
                "contract_id", f"no version of contract {contract_id} is in force on {on.isoformat()}"
            )
        version = self._parse(response)
        self._remember(version)
        return version

    async def version(self, version_id: UUID, *, token: str) -> ContractVersion:
        cached = self._cache.get(version_id)
        if cached is not None:
            self._cache.move_to_end(version_id)
            return cached
        response = await self._get(f"/v1/contract-versions/{version_id}", token)
        if response.status_code == 404:
            raise NoVersionInForce(f"contract version {version_id} does not exist")
        version = self._parse(response)
        self._remember(version)
        return version

    def _remember(self, version: ContractVersion) -> None:
        self._cache[version.id] = version
        self._cache.move_to_end(version.id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def _get(self, path: str, token: str, params: dict[str, str] | None = None) -> httpx.Response:
        try:
            response = await self._http.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise ContractsUnavailable(f"the contract registry did not answer: {type(exc).__name__}") from exc
        if response.status_code == 401:
            raise Unauthorized("the contract registry refused the token")
        if response.status_code == 403:
            raise Forbidden("the contract registry does not let you read this contract")
        if response.status_code >= 500:
            raise ContractsUnavailable(f"the contract registry answered {response.status_code}")
        return response

    @staticmethod
    def _parse(response: httpx.Response) -> ContractVersion:
        if response.status_code != 200:
            raise ContractsUnavailable(f"the contract registry answered {response.status_code}")
        try:
            return ContractVersion.model_validate_json(response.content)
        except ValidationError as exc:
            raise ContractsUnavailable("the contract registry sent terms this service cannot read") from exc
