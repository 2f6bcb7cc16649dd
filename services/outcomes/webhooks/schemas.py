"""Request and response bodies for webhook subscriptions and their delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from kit.text import FreeText, Text


def _parsable_url(value: str) -> str:
    # urlsplit raises on a malformed IPv6 host, and on an out-of-range port only once `.port` is read: ask
    # here, so such a URL is a 422 now rather than a 500 now or a failure at every later delivery.
    try:
        _ = urlsplit(value).port
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    return value


WebhookUrl = Annotated[Text, AfterValidator(_parsable_url), Field(max_length=2000)]
# A type that can never match would make a subscription that silently never fires.
EventType = Annotated[
    Text,
    Field(
        max_length=100,
        pattern=r"^dk\.effekt\.[a-z_]+(\.[a-z_]+)+$",
        description="A ledger event type, e.g. `dk.effekt.claim.verified`.",
    ),
]


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    partnership_id: UUID
    url: WebhookUrl
    event_types: list[EventType] = Field(
        default_factory=list, max_length=50, description="Empty: every type."
    )
    description: FreeText | None = Field(None, max_length=500)


class SubscriptionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["active", "disabled"] | None = None
    url: WebhookUrl | None = None
    event_types: list[EventType] | None = Field(None, max_length=50)


class SubscriptionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    organisation_id: UUID
    partnership_id: UUID
    audience: str
    url: str
    event_types: list[str]
    description: str | None
    status: str
    disabled_reason: str | None
    disabled_at: datetime | None
    version: int
    created_at: datetime
    previous_secret_expires_at: datetime | None = Field(
        None, description="After a secret rotation: until when the previous secret also signs deliveries."
    )


class SubscriptionCreated(SubscriptionRead):
    secret: str = Field(description="The signing secret (`whsec_...`); shown only in this response.")


class SecretRotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    previous_secret_valid_for: int = Field(
        24 * 3600,
        ge=0,
        le=7 * 24 * 3600,
        description="Seconds the previous secret keeps signing beside the new one (0: stop at once, e.g. "
        "after a leak). Rotating again ends any older secret's grace.",
    )


class DeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID = Field(description="Also the `webhook-id` header of every attempt.")
    subscription_id: UUID
    event_id: UUID
    sequence: int
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
