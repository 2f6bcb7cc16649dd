"""Webhook subscriptions as partners manage them: their organisation's subscriptions and each one's delivery
log, and the writes to create (the signing secret is shown once), disable / re-enable, rotate the secret,
redeliver and delete. Backed by the outcome service, which scopes everything to the caller's organisation
and requires `webhooks:manage` and a membership in the partnership; which partner types see these fields
at all is policy.py's call (`WEBHOOKS`).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated
from uuid import UUID

import strawberry
from strawberry import relay
from strawberry.types import Info

from gateway.clients.outcomes import WebhookDeliveryRow, WebhookSecretRow, WebhookSubscriptionRow
from gateway.context import Context
from gateway.relay import (
    DEFAULT_FIRST,
    Connection,
    Edge,
    GlobalNode,
    PageInfo,
    check_first,
    from_page,
    uuid_of,
)
from gateway.results import AnyError, Done, IdempotencyKey, Result, attempt
from gateway.roles import MembershipRole
from gateway.rows import from_row


@strawberry.enum
class WebhookStatus(enum.Enum):
    ACTIVE = "active"
    DISABLED = "disabled"


@strawberry.enum
class WebhookDeliveryStatus(enum.Enum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@strawberry.type(description="One event's delivery to a subscription, and how its attempts went.")
class WebhookDelivery:
    id: UUID = strawberry.field(description="Also the `webhook-id` header of every attempt.")
    subscription_id: UUID
    event_id: UUID
    sequence: int
    event_type: str
    status: WebhookDeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: WebhookDeliveryRow) -> WebhookDelivery:
        return from_row(cls, row)


def _sequence(delivery: WebhookDelivery) -> str:
    return str(delivery.sequence)


@strawberry.type(description="Your organisation's subscription to a partnership's events (never its secret).")
class WebhookSubscription(GlobalNode):
    uuid: UUID = strawberry.field(description="The raw UUID, as REST and the events name this object.")
    organisation_id: UUID
    partnership_id: UUID
    audience: MembershipRole = strawberry.field(
        description="The membership role whose redaction every delivery gets (fixed when subscribed)."
    )
    url: str
    event_types: list[str] = strawberry.field(description="Empty: every type.")
    description: str | None
    status: WebhookStatus
    disabled_reason: str | None
    disabled_at: datetime | None
    previous_secret_expires_at: datetime | None = strawberry.field(
        description="After a secret rotation: until when the previous secret also signs every delivery."
    )
    version: int
    created_at: datetime

    @classmethod
    def from_row(cls, row: WebhookSubscriptionRow) -> WebhookSubscription:
        return from_row(cls, row)

    @strawberry.field(description="The delivery log, newest event first; filter by `status`.")
    async def deliveries(
        self,
        info: Info[Context, None],
        first: int = DEFAULT_FIRST,
        after: str | None = None,
        status: WebhookDeliveryStatus | None = None,
    ) -> Connection[WebhookDelivery]:
        page = await info.context.services.outcomes.webhook_deliveries(
            self.uuid,
            limit=check_first(first),
            cursor=after,
            status=status.value if status is not None else None,
        )
        return from_page(page, WebhookDelivery.from_row, _sequence, after=after)


async def subscriptions_of_organisation(info: Info[Context, None]) -> Connection[WebhookSubscription]:
    """The service lists an organisation's subscriptions whole (there are few), oldest first."""
    rows = await info.context.services.outcomes.webhook_subscriptions()
    nodes = [WebhookSubscription.from_row(row) for row in rows]
    return Connection(
        edges=[Edge(cursor=str(n.uuid), node=n) for n in nodes],
        page_info=PageInfo(
            has_next_page=False,
            has_previous_page=False,
            start_cursor=str(nodes[0].uuid) if nodes else None,
            end_cursor=str(nodes[-1].uuid) if nodes else None,
        ),
        total_count=len(nodes),
    )


# --- mutations ---------------------------------------------------------------------------------------------


@strawberry.type(description="A new subscription and its signing secret: keep it now, it is not shown again.")
class CreatedWebhookSubscription:
    subscription: WebhookSubscription
    secret: str = strawberry.field(description="The Standard Webhooks signing secret (`whsec_…`).")


def _created(row: WebhookSecretRow) -> CreatedWebhookSubscription:
    return CreatedWebhookSubscription(subscription=WebhookSubscription.from_row(row), secret=row.secret)


@strawberry.type(description="A subscription's new signing secret: keep it now, it is not shown again.")
class RotatedWebhookSecret:
    subscription: WebhookSubscription = strawberry.field(
        description="`previousSecretExpiresAt` says until when the old secret signs beside the new one."
    )
    secret: str = strawberry.field(description="The new Standard Webhooks signing secret (`whsec_…`).")


def _rotated(row: WebhookSecretRow) -> RotatedWebhookSecret:
    return RotatedWebhookSecret(subscription=WebhookSubscription.from_row(row), secret=row.secret)


# Named after the mutation, not the success type (`Result[X]` would name them after X).
CreateWebhookSubscriptionResult = Annotated[
    CreatedWebhookSubscription | AnyError, strawberry.union("CreateWebhookSubscriptionResult")
]
RotateWebhookSecretResult = Annotated[
    RotatedWebhookSecret | AnyError, strawberry.union("RotateWebhookSecretResult")
]


@strawberry.input
class CreateWebhookSubscriptionInput:
    partnership_id: relay.GlobalID
    url: str = strawberry.field(description="HTTPS; private and loopback addresses refused in production.")
    event_types: list[str] = strawberry.field(default_factory=list, description="Empty: every type.")
    description: str | None = None


@strawberry.input
class UpdateWebhookSubscriptionInput:
    status: WebhookStatus | None = strawberry.field(
        default=None, description="`DISABLED` stops deliveries; `ACTIVE` resumes the pending ones."
    )
    url: str | None = None
    event_types: list[str] | None = None


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(description="Subscribe your organisation to a partnership's events.")
    async def create_webhook_subscription(
        self,
        info: Info[Context, None],
        input: CreateWebhookSubscriptionInput,
        idempotency_key: IdempotencyKey = None,
    ) -> CreateWebhookSubscriptionResult:
        call = info.context.services.outcomes.create_webhook_subscription(
            partnership_id=uuid_of(input.partnership_id, "Partnership", field="input.partnership_id"),
            url=input.url,
            event_types=list(input.event_types),
            description=input.description,
            idempotency_key=idempotency_key,
        )
        return await attempt(call, _created, body="input")

    @strawberry.mutation(
        description="Disable or re-enable a subscription, or change its URL or event types. "
        "`expectedVersion` is required: a stale one is a `Conflict`."
    )
    async def update_webhook_subscription(
        self,
        info: Info[Context, None],
        subscription_id: relay.GlobalID,
        input: UpdateWebhookSubscriptionInput,
        expected_version: Annotated[
            int, strawberry.argument(description="The `version` you read; refused if it moved on.")
        ],
        idempotency_key: IdempotencyKey = None,
    ) -> Result[WebhookSubscription]:
        call = info.context.services.outcomes.update_webhook_subscription(
            uuid_of(subscription_id, "WebhookSubscription", field="subscription_id"),
            status=input.status.value if input.status is not None else None,
            url=input.url,
            event_types=input.event_types,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
        )
        return await attempt(call, WebhookSubscription.from_row, body="input")

    @strawberry.mutation(
        description="Send a delivery again now (the receiver dedupes on `webhook-id`, which stays the same)."
    )
    async def redeliver_webhook(
        self,
        info: Info[Context, None],
        subscription_id: relay.GlobalID,
        delivery_id: UUID,
        idempotency_key: IdempotencyKey = None,
    ) -> Result[WebhookDelivery]:
        call = info.context.services.outcomes.redeliver_webhook(
            uuid_of(subscription_id, "WebhookSubscription", field="subscription_id"),
            delivery_id,
            idempotency_key=idempotency_key,
        )
        return await attempt(call, WebhookDelivery.from_row)

    @strawberry.mutation(
        description="Issue a new signing secret. The previous one keeps signing beside it for "
        "`previousSecretValidFor` seconds (default a day; 0 stops it at once, e.g. after a leak), so "
        "receivers can switch without losing a delivery. `expectedVersion` is required."
    )
    async def rotate_webhook_secret(
        self,
        info: Info[Context, None],
        subscription_id: relay.GlobalID,
        expected_version: Annotated[
            int, strawberry.argument(description="The `version` you read; refused if it moved on.")
        ],
        previous_secret_valid_for: Annotated[
            int, strawberry.argument(description="Seconds, 0 to 604800.")
        ] = 24 * 3600,
        idempotency_key: IdempotencyKey = None,
    ) -> RotateWebhookSecretResult:
        call = info.context.services.outcomes.rotate_webhook_secret(
            uuid_of(subscription_id, "WebhookSubscription", field="subscription_id"),
            previous_secret_valid_for=previous_secret_valid_for,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
        )
        return await attempt(call, _rotated)

    @strawberry.mutation(description="Delete a subscription and its delivery log; deliveries stop at once.")
    async def delete_webhook_subscription(
        self, info: Info[Context, None], subscription_id: relay.GlobalID
    ) -> Result[Done]:
        call = info.context.services.outcomes.delete_webhook_subscription(
            uuid_of(subscription_id, "WebhookSubscription", field="subscription_id")
        )
        return await attempt(call, lambda _: Done())
