"""The integrations' share of the outcome service's lifespan: the feed's LISTEN connection and the webhook
dispatcher, both per process. Stopping lets the dispatcher finish the batch in flight."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.outcomes.feed import Notifier, asyncpg_dsn
from services.outcomes.settings import Settings
from services.outcomes.webhooks.dispatcher import Dispatcher, DispatchPolicy


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


def integrations_lifespan(settings: Settings):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.webhook_policy = dispatch_policy(settings)
        notifier = Notifier(asyncpg_dsn(settings.database_url), poll_interval=settings.feed_poll_interval)
        await notifier.start()
        app.state.feed_notifier = notifier
        dispatcher = Dispatcher(app.state.sessionmaker, app.state.webhook_policy)
        if settings.webhook_dispatcher:
            dispatcher.start()
        try:
            yield
        finally:
            await dispatcher.stop()
            await notifier.stop()

    return lifespan
