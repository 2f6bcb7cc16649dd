"""The webhook dispatcher: a background task in every replica that claims due outbox rows with
`FOR UPDATE SKIP LOCKED`, so replicas share the work without delivering a row twice at once.

A claim is a lease: it moves `next_attempt_at` a lease ahead and commits before any HTTP is sent. If the
process dies mid-delivery, the row simply falls due again when the lease runs out and another dispatcher
(or this one, restarted) delivers it: at least once, nothing lost. Receivers dedupe on `webhook-id`.

Failures back off exponentially with jitter (base · 2^(n-1), capped, times a random factor in [½, 1])
for `webhook_retry_for` (25 h by default); a delivery still failing then is marked failed and its
subscription disabled, with the reason on the subscription. Its HTTP client connects only to addresses
it resolved and found public itself (webhooks/ssrf.py), so a DNS answer that changes between a check and
the connect cannot point a delivery at the service's own network.

Signing secrets are stored encrypted; a claim decrypts them with the service's key ring, and the clear
secrets live only in the claimed job's memory. While a rotation's grace lasts, each delivery carries a
signature under the new and one under the previous secret (Standard Webhooks allows several).

Given the process's `RevocationFeed`, it also ends subscriptions with the memberships they were confirmed
under (webhooks/revocations.py): before each claim it settles a list version it has not applied yet, and
a claimed delivery whose subscription the list has superseded is not sent but handed back (its
subscription settled in the same transaction), a second wall for a list that changed mid-batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import structlog
from cryptography.exceptions import InvalidTag
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook

from kit.revocations import RevocationFeed, Revocations
from services.outcomes import access
from services.outcomes.feed import service as feed
from services.outcomes.ledger import disclosures
from services.outcomes.models import LedgerEvent
from services.outcomes.pseudonyms import PartnershipKeys
from services.outcomes.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from services.outcomes.webhooks.revocations import (
    Floor,
    is_superseded,
    organisation_floors,
    settle_superseded,
)
from services.outcomes.webhooks.service import signing_secrets
from services.outcomes.webhooks.ssrf import UnsafeTarget, check_url, webhook_client

log = structlog.get_logger(__name__)

CONTENT_TYPE = "application/cloudevents+json"

Claimed = tuple[WebhookDelivery, WebhookSubscription, LedgerEvent]

_CLAIM = text(
    """
    WITH due AS (
        SELECT d.id FROM webhook_deliveries d
        JOIN webhook_subscriptions s ON s.id = d.subscription_id
        WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND s.status = 'active'
        ORDER BY d.next_attempt_at
        LIMIT :batch
        FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE webhook_deliveries w
    SET next_attempt_at = now() + make_interval(secs => :lease), attempts = w.attempts + 1,
        last_attempt_at = now()
    FROM due WHERE w.id = due.id
    RETURNING w.id
    """
)


@dataclass(frozen=True, slots=True)
class DispatchPolicy:
    allow_insecure: bool
    retry_base: float = 2.0
    retry_max_delay: float = 3600.0
    retry_for: float = 25 * 3600.0
    timeout: float = 10.0
    lease: float = 60.0
    batch: int = 20
    poll_interval: float = 1.0

    def backoff(self, attempts: int) -> float:
        delay = min(self.retry_base * 2 ** min(attempts - 1, 30), self.retry_max_delay)
        jitter: float = random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security
        return float(delay) * jitter


@dataclass(frozen=True, slots=True)
class Job:
    delivery_id: UUID
    created_at: datetime
    attempts: int
    subscription_id: UUID
    url: str
    secrets: list[str] | None  # None: not decryptable with the configured keys
    body: bytes


class Dispatcher:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        policy: DispatchPolicy,
        keys: PartnershipKeys,
        client: httpx.AsyncClient | None = None,
        revocations: RevocationFeed | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._revocations = revocations
        self._applied: Revocations | None = None  # the list version last applied to the subscriptions
        self._floors: dict[UUID, Floor] = {}  # its organisation floors
        self.policy = policy
        self._keys = keys
        # Resolves each name once and connects only to the addresses it checked (webhooks/ssrf.py).
        self._client = client or webhook_client(timeout=policy.timeout, allow_private=policy.allow_insecure)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-dispatcher")

    async def stop(self) -> None:
        """Finish the batch in flight, then stop; rows claimed but unsent fall due when their lease ends."""
        self._stopping.set()
        if self._task is not None:
            await self._task
        await self._client.aclose()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                handled = await self.run_once()
            except Exception:  # a database blip must not end the dispatcher
                log.exception("webhooks.dispatch_failed")
                handled = 0
            if not handled:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=self.policy.poll_interval)

    async def run_once(self) -> int:
        await self.apply_revocations()
        jobs = await self._claim()
        if jobs:
            await asyncio.gather(*(self._deliver(job) for job in jobs))
        return len(jobs)

    async def apply_revocations(self) -> None:
        """Settle the subscriptions a new version of identity's revocation list has superseded."""
        if self._revocations is None or self._revocations.loaded_at is None:
            return
        current = self._revocations.current
        if current is self._applied:
            return
        floors = organisation_floors(current)
        if floors != self._floors or self._applied is None:  # a revoked jti alone settles nothing
            async with self._sessionmaker() as session, session.begin():
                disabled = await settle_superseded(session, floors)
            if disabled:
                log.info("webhooks.subscriptions_superseded", subscription_ids=[str(i) for i in disabled])
        self._applied, self._floors = current, floors

    async def _claim(self) -> list[Job]:
        async with self._sessionmaker() as session, session.begin():
            ids = list(
                (
                    await session.execute(_CLAIM, {"batch": self.policy.batch, "lease": self.policy.lease})
                ).scalars()
            )
            if not ids:
                return []
            rows = (
                await session.execute(
                    select(WebhookDelivery, WebhookSubscription, LedgerEvent)
                    .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
                    .join(LedgerEvent, LedgerEvent.id == WebhookDelivery.event_id)
                    .where(WebhookDelivery.id.in_(ids))
                )
            ).all()
            claimed = await self._hand_back_superseded(session, [(d, s, e) for d, s, e in rows])
            bodies = await _bodies(session, claimed)
            now = datetime.now(UTC)
            return [
                Job(
                    delivery_id=d.id,
                    created_at=d.created_at,
                    attempts=d.attempts,
                    subscription_id=s.id,
                    url=s.url,
                    secrets=self._secrets(s, now),
                    body=bodies[d.id],
                )
                for d, s, e in claimed
            ]

    async def _hand_back_superseded(self, session: AsyncSession, rows: Iterable[Claimed]) -> list[Claimed]:
        """The claimed rows still to send; those of superseded subscriptions are released unsent (the
        claim undone) and their subscriptions settled, in the claim's transaction: a re-confirmed one's
        deliveries go out with the next claim."""
        floors = self._floors  # as applied just before this claim (run_once)
        keep: list[Claimed] = []
        stale: list[Claimed] = []
        for d, s, e in rows:
            (stale if is_superseded(floors, s.organisation_id, s.token_epoch) else keep).append((d, s, e))
        if stale:
            owners = {s.organisation_id for _, s, _ in stale}
            await settle_superseded(session, {o: floors[o] for o in owners})
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_([d.id for d, _, _ in stale]))
                .values(next_attempt_at=func.now(), attempts=WebhookDelivery.attempts - 1)
            )
        return keep

    def _secrets(self, subscription: WebhookSubscription, now: datetime) -> list[str] | None:
        """One undecryptable secret (its key version retired too early) fails its own deliveries, not the
        batch it was claimed with."""
        try:
            return signing_secrets(self._keys, subscription, now)
        except (LookupError, InvalidTag):
            log.error("webhooks.secret_undecryptable", subscription_id=str(subscription.id))
            return None

    async def _deliver(self, job: Job) -> None:
        started = time.monotonic()
        status_code: int | None = None
        error: str | None = None
        if job.secrets is None:
            await self._record(job, None, "signing secret not decryptable with the configured keys", 0)
            return
        try:
            check_url(job.url, allow_insecure=self.policy.allow_insecure)  # addresses: at connect
            now = datetime.now(UTC)
            payload = job.body.decode()
            headers = {
                "content-type": CONTENT_TYPE,
                "webhook-id": str(job.delivery_id),
                "webhook-timestamp": str(int(now.timestamp())),
                # Space-separated `v1,<sig>`: one per secret (two while a rotation's grace lasts).
                "webhook-signature": " ".join(
                    Webhook(secret).sign(str(job.delivery_id), now, payload) for secret in job.secrets
                ),
                "user-agent": "Effekt-Webhooks/1",
            }
            response = await self._client.post(job.url, content=job.body, headers=headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except UnsafeTarget as exc:
            error = f"unsafe target: {exc}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        await self._record(job, status_code, error, int((time.monotonic() - started) * 1000))

    async def _record(self, job: Job, status_code: int | None, error: str | None, duration_ms: int) -> None:
        now = datetime.now(UTC)
        values: dict[str, Any] = {"last_status_code": status_code, "last_error": error}
        give_up = error is not None and now - job.created_at >= timedelta(seconds=self.policy.retry_for)
        if error is None:
            values |= {"status": "delivered", "delivered_at": now}
        elif give_up:
            values |= {"status": "failed"}
        else:
            values |= {"next_attempt_at": now + timedelta(seconds=self.policy.backoff(job.attempts))}
        async with self._sessionmaker() as session, session.begin():
            done = await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == job.delivery_id, WebhookDelivery.status == "pending")
                .values(**values)
                .returning(WebhookDelivery.id)
            )
            if done.scalar_one_or_none() is None:
                return  # the subscription was deleted meanwhile
            session.add(
                WebhookAttempt(
                    delivery_id=job.delivery_id, status_code=status_code, error=error, duration_ms=duration_ms
                )
            )
            if give_up:
                hours = self.policy.retry_for / 3600
                await session.execute(
                    update(WebhookSubscription)
                    .where(
                        WebhookSubscription.id == job.subscription_id, WebhookSubscription.status == "active"
                    )
                    .values(
                        status="disabled",
                        disabled_at=now,
                        disabled_reason=f"delivery {job.delivery_id} still failing after {hours:g} h "
                        f"({job.attempts} attempts); last error: {error}",
                        version=WebhookSubscription.version + 1,
                    )
                )
        if error is not None:
            log.info("webhooks.delivery_failed", delivery_id=str(job.delivery_id), error=error)


async def _bodies(session: AsyncSession, rows: list[Claimed]) -> dict[UUID, bytes]:
    """Keyed by delivery id: the event shaped for the subscription's audience, as the feed shapes it for
    the same audience (person-level extensions included where it may see the participant)."""
    bodies: dict[UUID, bytes] = {}
    by_audience: dict[access.Audience, list[Claimed]] = {}
    for d, s, e in rows:
        by_audience.setdefault(access.audience_for([s.audience], s.municipality_code), []).append((d, s, e))
    for audience, claimed in by_audience.items():
        shaped = await disclosures.shape(
            session,
            [
                disclosures.Stored(e.id, e.partnership_id, e.type, e.canonical, e.record_format)
                for _, _, e in claimed
            ],
            {e.partnership_id: audience for _, _, e in claimed},
        )
        for (d, _, e), event in zip(claimed, shaped, strict=True):
            bodies[d.id] = feed.render(event, e.hash, e.prev_hash)
    return bodies
