"""The integrations' share of the outcome service's lifespan: the feed's LISTEN connection and the webhook
dispatcher, both per process, and the outcome service's own gauges (webhook backlog, feed lag), sampled
at each scrape. Stopping lets the dispatcher finish the batch in flight."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI
from prometheus_client import Gauge
from sqlalchemy import func, select

from services.outcomes.feed.service import Notifier, asyncpg_dsn
from services.outcomes.settings import Settings
from services.outcomes.webhooks.dispatcher import Dispatcher, DispatchPolicy
from services.outcomes.webhooks.models import WebhookDelivery


def dispatch_policy(settings: Settings) -> DispatchPolicy:
    insecure = settings.webhook_allow_insecure
    return DispatchPolicy(
        allow_insecure=(not settings.production) if insecure is None else insecure,
        retry_base=settings.webhook_retry_base,
        retry_max_delay=settings.webhook_retry_max_delay,
        retry_for=settings.webhook_retry_for,
        timeout=settings.webhook_timeout,
        lease=max(settings.webhook_lease, settings.webhook_timeout + 1),
        batch=settings.webhook_batch,
        poll_interval=settings.webhook_poll_interval,
    )


def backlog_sampler(app: FastAPI) -> Callable[[], Awaitable[None]]:
    """Pending deliveries and the age of the oldest, as `effekt_webhook_backlog` and
    `effekt_feed_lag_seconds{feed="webhooks"}` (one indexed query per scrape, shared by all replicas)."""
    registry = app.state.metrics.registry
    backlog = Gauge(
        "effekt_webhook_backlog", "Webhook deliveries due but not yet delivered.", registry=registry
    )
    feed_lag = Gauge(
        "effekt_feed_lag_seconds",
        "Age of the newest event not yet visible in a feed, by feed.",
        ("feed",),
        registry=registry,
    )

    async def sample() -> None:
        # The backlog of every partnership: the system context (docs/operations.md, Row-level security).
        async with app.state.system_sessionmaker() as session:
            pending, oldest = (
                await session.execute(
                    select(func.count(), func.min(WebhookDelivery.created_at)).where(
                        WebhookDelivery.status == "pending"
                    )
                )
            ).one()
        backlog.set(pending)
        lag = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else 0.0
        feed_lag.labels(feed="webhooks").set(max(lag, 0.0))

    return sample


def integrations_lifespan(settings: Settings):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.webhook_policy = dispatch_policy(settings)
        app.state.metrics.add_sampler(backlog_sampler(app))
        notifier = Notifier(asyncpg_dsn(settings.database_url), poll_interval=settings.feed_poll_interval)
        await notifier.start()
        app.state.feed_notifier = notifier
        # Delivers every partnership's events: the system context (docs/operations.md, Row-level security).
        dispatcher = Dispatcher(
            app.state.system_sessionmaker,
            app.state.webhook_policy,
            app.state.partnership_keys,
            revocations=app.state.token_verifier.revocations,
        )
        if settings.webhook_dispatcher:
            dispatcher.start()
        try:
            yield
        finally:
            await dispatcher.stop()
            await notifier.stop()

    return lifespan
