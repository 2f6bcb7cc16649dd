"""The registry's change log, recorded in the partnerships' ledgers: every partner learns from the feed (and
webhooks) when a contract version is activated, terminated or expires.

A background task per replica reads contracts' `GET /v1/contract-events?after=<cursor>` with the outcome
service's own platform client (the revocation-list client identity ensures, `tokens:revocations`; the
registry names it in `CONTRACTS_EVENT_READERS`). Each page is one transaction: lock the single
`contract_event_cursors` row (FOR UPDATE, so a second replica waits and then reads on from the moved
cursor, never appending twice), append one ledger event per change, move the cursor. The cursor moves only
with the events it covers, so a failure (contracts or identity down, a 401) loses nothing: it is logged and
the page is read again next round.

What is recorded is partnership-level and names no person: the contract, the version and its dates. The
registry's free-text reason and the acting user stay in the registry; the ledger's actor is the outcome
service's own client, which is what wrote the event.

An activation is also acted on, in the same transaction: when claims achieved in the version's period were
priced under another version (a retroactive amendment), the contract is re-priced
(`claims.repricing.reprice_contract`), its adjustment lines waiting for each payer's next statement. The
terms are read with the same platform client from the registry's `GET /v1/contract-events/versions/{id}`,
which serves only versions its log names; an activation with nothing to re-price reads nothing more. If
the re-pricing cannot be done (the registry unreachable), the page rolls back and is read again, so an
activation is never recorded without its re-pricing. A replica that reads the page after another
committed it finds the cursor moved; a replay under the same version books nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import date
from typing import Any
from uuid import UUID

import httpx
import structlog
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.auth import Principal, TokenVerifier
from kit.revocations import REVOCATIONS_SCOPE
from services.outcomes.claims import repricing
from services.outcomes.clients.contracts import ContractsClient, ContractVersion
from services.outcomes.ledger.service import append_event
from services.outcomes.models import ContractEventCursor
from services.outcomes.settings import Settings

log = structlog.get_logger(__name__)

TYPES = frozenset({"contract.activated", "contract.terminated", "contract.expired", "disclosure.withdrawn"})
# Partnership-wide: they name no contract version (docs/open-data.md).
PARTNERSHIP_TYPES = frozenset({"disclosure.withdrawn"})
# What of the registry's event data the ledger keeps: identifiers and dates, nothing about a person.
KEPT = (
    "contract_id",
    "version_id",
    "number",
    "content_hash",
    "supersedes_version_id",
    "start_date",
    "end_date",
    "terminated_on",
    "by",
    "blocks",
    "withdrawn_at",
)
LOG_EVERY = 60.0


class ContractEventRecorder:
    """Polls the registry's change log every `interval` seconds and records it, a page per transaction."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        verifier: TokenVerifier,
        registry: ContractsClient,
        *,
        contracts_url: str,
        token_url: str,
        client_id: str,
        client_secret: str,
        interval: float,
        page: int = 100,
        timeout: float = 10.0,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._verifier = verifier
        self._registry = registry
        self._url = contracts_url.rstrip("/") + "/v1/contract-events"
        self._token_url = token_url
        self._credentials = (client_id, client_secret)
        self._interval = interval
        self._page = page
        self._http = httpx.AsyncClient(timeout=timeout)
        self._token: tuple[str, Principal, float] | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._logged_at = -float("inf")

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="contract-events")

    async def stop(self) -> None:
        """Let a page in flight commit, then stop."""
        self._stopping.set()
        if self._task is not None:
            await self._task
        await self._http.aclose()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                while await self.record_page() and not self._stopping.is_set():
                    pass
            except (
                Exception
            ) as exc:  # contracts or identity unreachable, a 401: the page waits for next round
                now = time.monotonic()
                if now - self._logged_at >= LOG_EVERY:
                    self._logged_at = now
                    log.warning("contract_events.unreadable", error=f"{type(exc).__name__}: {exc}"[:300])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval)

    async def record_page(self) -> bool:
        """Record one page of the change log; True when it was full (more may follow)."""
        async with self._sessionmaker() as session, session.begin():
            await session.execute(
                insert(ContractEventCursor).values(id=1, last_sequence=0).on_conflict_do_nothing()
            )
            cursor = await session.scalar(
                select(ContractEventCursor)
                .where(ContractEventCursor.id == 1)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            assert cursor is not None
            items, next_cursor = await self._read(cursor.last_sequence)
            token, actor, _ = await self._principal()
            for item in items:
                if item["type"] not in TYPES:  # a newer registry's event this service does not know yet
                    continue
                data: dict[str, Any] = item["data"]
                kept = {k: data[k] for k in KEPT if k in data}
                if item["type"] in PARTNERSHIP_TYPES:
                    subject = f"partnerships/{item['partnership_id']}/disclosure"
                else:
                    subject = f"contract-versions/{item['version_id']}"
                    kept |= {"contract_id": item["contract_id"], "version_id": item["version_id"]}
                await append_event(
                    session,
                    actor,
                    UUID(item["partnership_id"]),
                    type=item["type"],
                    subject=subject,
                    data=kept,
                )
                if item["type"] == "contract.activated":
                    await self._reprice(session, actor, token, item)
            if next_cursor < cursor.last_sequence:
                raise ValueError(
                    f"the registry's cursor went back from {cursor.last_sequence} to {next_cursor}"
                )
            cursor.last_sequence = next_cursor
        return len(items) >= self._page

    async def _reprice(
        self, session: AsyncSession, actor: Principal, token: str, item: dict[str, Any]
    ) -> None:
        """Re-price the contract's claims under the activated version, when any was priced under another."""
        data: dict[str, Any] = item["data"]
        contract_id, version_id = UUID(item["contract_id"]), UUID(item["version_id"])
        start, end = date.fromisoformat(data["start_date"]), date.fromisoformat(data["end_date"])
        if not await repricing.stale(session, contract_id, version_id, start, end):
            return

        async def read(wanted: UUID) -> ContractVersion:
            return await self._registry.logged_version(wanted, token=token)

        moved = await repricing.reprice_contract(session, actor, await read(version_id), read)
        log.info(
            "contract_events.repriced", contract_id=str(contract_id), version_id=str(version_id), claims=moved
        )

    async def _read(self, after: int) -> tuple[list[dict[str, Any]], int]:
        token, _, _ = await self._principal()
        params = {"after": after, "limit": self._page}
        response = await self._http.get(
            self._url, params=params, headers={"Authorization": f"Bearer {token}"}
        )
        if response.status_code == 401:  # ended early (identity restarted with a new key, say): get another
            self._token = None
            token, _, _ = await self._principal()
            response = await self._http.get(
                self._url, params=params, headers={"Authorization": f"Bearer {token}"}
            )
        response.raise_for_status()
        body = response.json()
        return list(body["items"]), int(body["cursor"])

    async def _principal(self) -> tuple[str, Principal, float]:
        """The service's token and the principal it stands for, verified like any caller's token."""
        if self._token is not None and time.monotonic() < self._token[2]:
            return self._token
        response = await self._http.post(
            self._token_url,
            data={"grant_type": "client_credentials", "scope": REVOCATIONS_SCOPE},
            auth=self._credentials,
        )
        response.raise_for_status()
        body = response.json()
        token = str(body["access_token"])
        principal = await self._verifier.verify(token)
        # Renew a minute early, so a page is never read with a token about to expire.
        until = time.monotonic() + max(float(body.get("expires_in", 300)) - 60.0, 1.0)
        self._token = (token, principal, until)
        return self._token


def contract_events_lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The recorder's share of the outcome service's lifespan (off without the service's client)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        secret = settings.revocations_client_secret
        if not settings.contract_events:
            log.info("contract_events.off")
            yield
            return
        if not settings.revocations_client_id or secret is None:
            log.warning(
                "contract_events.disabled", reason="no platform client (OUTCOMES_REVOCATIONS_CLIENT_*)"
            )
            yield
            return
        # Records the registry's events in every partnership's ledger: the system context
        # (docs/operations.md, Row-level security).
        recorder = ContractEventRecorder(
            app.state.system_sessionmaker,
            app.state.token_verifier,
            app.state.contracts,
            contracts_url=settings.contracts_url,
            token_url=settings.token_url,
            client_id=settings.revocations_client_id,
            client_secret=secret.get_secret_value(),
            interval=settings.contract_events_poll_interval,
            timeout=settings.contracts_timeout,
        )
        recorder.start()
        try:
            yield
        finally:
            await recorder.stop()

    return lifespan
