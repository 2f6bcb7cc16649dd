"""Webhook subscriptions as partners manage them: their organisation's subscriptions and each one's delivery
log, and the writes to create (the signing secret is shown once), disable / re-enable and redeliver.
Backed by the outcome service's `/v1/webhook-subscriptions`, which scopes everything to the caller's
organisation, requires `webhooks:manage` and a membership in the partnership; which partner types see
these fields at all is policy.py's call (`WEBHOOKS`).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from gateway.context import Context
from gateway.relay import DEFAULT_FIRST, Connection, Edge, PageInfo, check_first, from_page
from gateway.results import (
    Conflict,
    Done,
    DoneResult,
    InvalidInput,
    NotFound,
    NotPermitted,
    RuleViolation,
    Unavailable,
    attempt,
    write_headers,
)

Row = dict[str, Any]
BASE = "/v1/webhook-subscriptions"


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


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
    def from_row(cls, row: Row) -> WebhookDelivery:
        return cls(
            id=UUID(row["id"]),
            subscription_id=UUID(row["subscription_id"]),
            event_id=UUID(row["event_id"]),
            sequence=int(row["sequence"]),
            event_type=row["event_type"],
            status=WebhookDeliveryStatus(row["status"]),
            attempts=int(row["attempts"]),
            next_attempt_at=datetime.fromisoformat(row["next_attempt_at"]),
            last_attempt_at=_time(row.get("last_attempt_at")),
            last_status_code=row.get("last_status_code"),
            last_error=row.get("last_error"),
            delivered_at=_time(row.get("delivered_at")),
            created_at=datetime.fromisoformat(row["created_at"]),
        )


def _sequence(delivery: WebhookDelivery) -> str:
    return str(delivery.sequence)


@strawberry.type(description="Your organisation's subscription to a partnership's events (never its secret).")
class WebhookSubscription:
    id: UUID
    organisation_id: UUID
    partnership_id: UUID
    audience: str = strawberry.field(
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
    def from_row(cls, row: Row) -> WebhookSubscription:
        return cls(
            id=UUID(row["id"]),
            organisation_id=UUID(row["organisation_id"]),
            partnership_id=UUID(row["partnership_id"]),
            audience=row["audience"],
            url=row["url"],
            event_types=list(row.get("event_types") or ()),
            description=row.get("description"),
            status=WebhookStatus(row["status"]),
            disabled_reason=row.get("disabled_reason"),
            disabled_at=_time(row.get("disabled_at")),
            previous_secret_expires_at=_time(row.get("previous_secret_expires_at")),
            version=int(row["version"]),
            created_at=datetime.fromisoformat(row["created_at"]),
        )

    @strawberry.field(description="The delivery log, newest event first; filter by `status`.")
    async def deliveries(
        self,
        info: Info[Context, None],
        first: int = DEFAULT_FIRST,
        after: str | None = None,
        status: WebhookDeliveryStatus | None = None,
    ) -> Connection[WebhookDelivery]:
        params = {"limit": str(check_first(first))}
        if after:
            params["cursor"] = after
        if status is not None:
            params["status"] = status.value
        page = await info.context.services.outcomes.get(f"{BASE}/{self.id}/deliveries", params)
        return from_page(page, WebhookDelivery.from_row, _sequence)


async def subscriptions_of_organisation(info: Info[Context, None]) -> Connection[WebhookSubscription]:
    """The service lists an organisation's subscriptions whole (there are few), oldest first."""
    page = await info.context.services.outcomes.get(BASE)
    nodes = [WebhookSubscription.from_row(row) for row in page.get("items") or ()]
    return Connection(
        edges=[Edge(cursor=str(n.id), node=n) for n in nodes],
        page_info=PageInfo(has_next_page=False, end_cursor=str(nodes[-1].id) if nodes else None),
        total_count=len(nodes),
    )


# --- mutations ---------------------------------------------------------------------------------------------


@strawberry.type(description="A new subscription and its signing secret: keep it now, it is not shown again.")
class CreatedWebhookSubscription:
    subscription: WebhookSubscription
    secret: str = strawberry.field(description="The Standard Webhooks signing secret (`whsec_…`).")


def _created(row: Row) -> CreatedWebhookSubscription:
    return CreatedWebhookSubscription(subscription=WebhookSubscription.from_row(row), secret=row["secret"])


@strawberry.type(description="A subscription's new signing secret: keep it now, it is not shown again.")
class RotatedWebhookSecret:
    subscription: WebhookSubscription = strawberry.field(
        description="`previousSecretExpiresAt` says until when the old secret signs beside the new one."
    )
    secret: str = strawberry.field(description="The new Standard Webhooks signing secret (`whsec_…`).")


def _rotated(row: Row) -> RotatedWebhookSecret:
    return RotatedWebhookSecret(subscription=WebhookSubscription.from_row(row), secret=row["secret"])


CreateWebhookSubscriptionResult = Annotated[
    CreatedWebhookSubscription
    | InvalidInput
    | NotPermitted
    | NotFound
    | Conflict
    | RuleViolation
    | Unavailable,
    strawberry.union("CreateWebhookSubscriptionResult"),
]
RotateWebhookSecretResult = Annotated[
    RotatedWebhookSecret | InvalidInput | NotPermitted | NotFound | Conflict | RuleViolation | Unavailable,
    strawberry.union("RotateWebhookSecretResult"),
]
WebhookSubscriptionResult = Annotated[
    WebhookSubscription | InvalidInput | NotPermitted | NotFound | Conflict | RuleViolation | Unavailable,
    strawberry.union("WebhookSubscriptionResult"),
]
WebhookDeliveryResult = Annotated[
    WebhookDelivery | InvalidInput | NotPermitted | NotFound | Conflict | RuleViolation | Unavailable,
    strawberry.union("WebhookDeliveryResult"),
]


@strawberry.input
class CreateWebhookSubscriptionInput:
    partnership_id: UUID
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


IdempotencyKey = Annotated[
    str | None,
    strawberry.argument(description="Send the same key when retrying, so the write happens once."),
]


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(description="Subscribe your organisation to a partnership's events.")
    async def create_webhook_subscription(
        self,
        info: Info[Context, None],
        input: CreateWebhookSubscriptionInput,
        idempotency_key: IdempotencyKey = None,
    ) -> CreateWebhookSubscriptionResult:
        body: dict[str, Any] = {
            "partnership_id": str(input.partnership_id),
            "url": input.url,
            "event_types": list(input.event_types),
        }
        if input.description is not None:
            body["description"] = input.description
        call = info.context.services.outcomes.send("POST", BASE, body, headers=write_headers(idempotency_key))
        return await attempt(call, _created)

    @strawberry.mutation(
        description="Disable or re-enable a subscription, or change its URL or event types. "
        "`expectedVersion` is required: a stale one is a `Conflict`."
    )
    async def update_webhook_subscription(
        self,
        info: Info[Context, None],
        subscription_id: UUID,
        input: UpdateWebhookSubscriptionInput,
        expected_version: Annotated[
            int, strawberry.argument(description="The `version` you read; refused if it moved on.")
        ],
        idempotency_key: IdempotencyKey = None,
    ) -> WebhookSubscriptionResult:
        body: dict[str, Any] = {}
        if input.status is not None:
            body["status"] = input.status.value
        if input.url is not None:
            body["url"] = input.url
        if input.event_types is not None:
            body["event_types"] = list(input.event_types)
        call = info.context.services.outcomes.send(
            "PATCH",
            f"{BASE}/{subscription_id}",
            body,
            headers=write_headers(idempotency_key, expected_version),
        )
        return await attempt(call, WebhookSubscription.from_row)

    @strawberry.mutation(
        description="Send a delivery again now (the receiver dedupes on `webhook-id`, which stays the same)."
    )
    async def redeliver_webhook(
        self,
        info: Info[Context, None],
        subscription_id: UUID,
        delivery_id: UUID,
        idempotency_key: IdempotencyKey = None,
    ) -> WebhookDeliveryResult:
        call = info.context.services.outcomes.send(
            "POST",
            f"{BASE}/{subscription_id}/deliveries/{delivery_id}/redelivery",
            headers=write_headers(idempotency_key),
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
        subscription_id: UUID,
        expected_version: Annotated[
            int, strawberry.argument(description="The `version` you read; refused if it moved on.")
        ],
        previous_secret_valid_for: Annotated[
            int, strawberry.argument(description="Seconds, 0 to 604800.")
        ] = 24 * 3600,
        idempotency_key: IdempotencyKey = None,
    ) -> RotateWebhookSecretResult:
        call = info.context.services.outcomes.send(
            "POST",
            f"{BASE}/{subscription_id}/secret-rotation",
            {"previous_secret_valid_for": previous_secret_valid_for},
            headers=write_headers(idempotency_key, expected_version),
        )
        return await attempt(call, _rotated)

    @strawberry.mutation(description="Delete a subscription and its delivery log; deliveries stop at once.")
    async def delete_webhook_subscription(
        self, info: Info[Context, None], subscription_id: UUID
    ) -> DoneResult:
        call = info.context.services.outcomes.send("DELETE", f"{BASE}/{subscription_id}")
        return await attempt(call, lambda _: Done())
