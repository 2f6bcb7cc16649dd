"""What the contracts service asks the outcome service: a partnership's aggregate results (no participant
data), for the open-data exports, with the caller's own token, so the outcome service's own rules decide
whether the caller may read them.

A tolerant reader of `GET /v1/partnerships/{id}/outcome-aggregates`: it reads `enrolled`, the verified
outcomes per code and month, and per contract what was earned and what is pending; nothing else. A reader
without person-level rights (an investor, an observer) gets the small cells already withheld there
(`None` here), under the same threshold, which the exports then keep withheld.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

import httpx

from services.contracts.errors import OutcomesUnavailable, ResultsUnreadable


@dataclass(frozen=True, slots=True)
class OutcomeMonth:
    outcome_code: str
    month: str  # YYYY-MM of the achievement date
    verified: int | None
    value: Decimal | None


@dataclass(frozen=True, slots=True)
class ContractResults:
    contract_id: UUID
    currency: str | None
    earned: Decimal | None
    pending_claims: int | None
    pending_value: Decimal | None


@dataclass(frozen=True, slots=True)
class Aggregates:
    enrolled: int | None
    verified: tuple[OutcomeMonth, ...]
    contracts: tuple[ContractResults, ...]


class OutcomesClient:
    def __init__(self, base_url: str, *, http: httpx.AsyncClient) -> None:
        self._base_url = base_url.rstrip("/")
        self._http = http

    async def aggregates(self, partnership_id: UUID, *, token: str) -> Aggregates:
        url = f"{self._base_url}/v1/partnerships/{partnership_id}/outcome-aggregates"
        try:
            response = await self._http.get(url, headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise OutcomesUnavailable(f"the outcome service did not answer: {type(exc).__name__}") from exc
        if response.status_code in (401, 403, 404):
            raise ResultsUnreadable(
                f"the outcome service answered {response.status_code}; the export needs `outcomes:read`",
                required_scope="outcomes:read",
            )
        if response.status_code != 200:
            raise OutcomesUnavailable(f"the outcome service answered {response.status_code}")
        try:
            return _aggregates(response.json())
        except (ValueError, TypeError, KeyError, InvalidOperation) as exc:
            raise OutcomesUnavailable("the outcome service sent results this service cannot read") from exc


def _count(value: Any) -> int | None:
    return None if value is None else int(value)


def _amount(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _aggregates(body: Any) -> Aggregates:
    return Aggregates(
        enrolled=_count(body["enrolled"]),
        verified=tuple(
            OutcomeMonth(str(m["outcome_code"]), str(m["month"]), _count(m["verified"]), _amount(m["value"]))
            for m in body.get("verified_outcomes", [])
        ),
        contracts=tuple(
            ContractResults(
                UUID(str(c["contract_id"])),
                c.get("currency"),
                _amount(c["earned"]),
                _count(c["pending_claims"]),
                _amount(c["pending_value"]),
            )
            for c in body.get("contracts", [])
        ),
    )
