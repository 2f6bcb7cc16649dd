"""Rules for webhook subscriptions: an organisation manages its own, only for partnerships it is in; what
its deliveries reveal is fixed by its role there when it subscribed or last confirmed it (the same
redaction as the feed). A membership change disables it until confirmed again (webhooks/revocations.py)."""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.versions import check_version
from services.outcomes.access import audience_of
from services.outcomes.errors import NotAPartner
from services.outcomes.pseudonyms import PartnershipKeys
from services.outcomes.webhooks import errors
from services.outcomes.webhooks.models import WebhookDelivery, WebhookSubscription
from services.outcomes.webhooks.schemas import SecretRotation, SubscriptionCreate, SubscriptionUpdate
from services.outcomes.webhooks.ssrf import UnsafeTarget, check_resolved, check_url


def readable_webhook_subscriptions(principal: Principal) -> Select[WebhookSubscription]:
    return select(WebhookSubscription).where(WebhookSubscription.organisation_id == principal.organisation_id)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def seal_secret(keys: PartnershipKeys, subscription: WebhookSubscription, secret: str) -> None:
    """Store `secret` on the subscription encrypted; its id must be set (it is the associated data)."""
    subscription.secret_key_version, subscription.secret_ciphertext = keys.encrypt_webhook_secret(
        secret, partnership_id=subscription.partnership_id, subscription_id=subscription.id
    )


def open_secret(keys: PartnershipKeys, subscription: WebhookSubscription) -> str:
    return keys.decrypt_webhook_secret(
        subscription.secret_ciphertext,
        version=subscription.secret_key_version,
        partnership_id=subscription.partnership_id,
        subscription_id=subscription.id,
    )


def signing_secrets(keys: PartnershipKeys, subscription: WebhookSubscription, now: datetime) -> list[str]:
    """The current secret, then the previous one while its grace after a rotation lasts."""
    found = [open_secret(keys, subscription)]
    expires, blob = subscription.previous_secret_expires_at, subscription.previous_secret_ciphertext
    if expires is not None and blob is not None and expires > now:
        version = subscription.previous_secret_key_version
        assert version is not None  # a check constraint keeps the three together
        found.append(
            keys.decrypt_webhook_secret(
                blob,
                version=version,
                partnership_id=subscription.partnership_id,
                subscription_id=subscription.id,
            )
        )
    return found


async def _checked_url(url: str, allow_insecure: bool) -> str:
    """Refused now (a 422), not at every delivery: the scheme, and unless insecure targets are allowed,
    every address the name resolves to now. Deliveries check the addresses again as they connect."""
    try:
        check_url(url, allow_insecure=allow_insecure)
        await check_resolved(url, allow_private=allow_insecure)
    except UnsafeTarget as exc:
        raise errors.UnsafeWebhookUrl.field("url", str(exc)) from None
    return url


def organisation_epoch(principal: Principal) -> int:
    """The organisation token epoch the principal's token was issued under (0 for a token without one)."""
    return principal.epochs.get("organisation", 0)


def confirm_membership(subscription: WebhookSubscription, principal: Principal) -> None:
    """Tie the subscription to the principal's current membership: its role decides the audience, and its
    token's organisation epoch is recorded, so a later membership change disables the subscription."""
    audience = audience_of(principal.roles_in(subscription.partnership_id))
    if audience is None:
        raise NotAPartner("you are not a partner in this partnership")
    subscription.audience = audience
    subscription.municipality_code = principal.municipality_code
    subscription.token_epoch = max(subscription.token_epoch or 0, organisation_epoch(principal))


async def create_subscription(
    session: AsyncSession,
    principal: Principal,
    body: SubscriptionCreate,
    *,
    keys: PartnershipKeys,
    allow_insecure: bool,
) -> tuple[WebhookSubscription, str]:
    """The new subscription and its signing secret in clear, which only the caller's response carries."""
    subscription = WebhookSubscription(
        id=uuid.uuid4(),
        organisation_id=principal.organisation_id,
        partnership_id=body.partnership_id,
        url=await _checked_url(body.url, allow_insecure),
        event_types=sorted(set(body.event_types)),
        description=body.description,
        created_by=principal.subject,
    )
    confirm_membership(subscription, principal)
    secret = new_secret()
    seal_secret(keys, subscription, secret)
    session.add(subscription)
    await session.flush()
    await session.refresh(subscription)
    return subscription, secret


async def get_subscription(
    session: AsyncSession, principal: Principal, subscription_id: UUID, *, for_update: bool = False
) -> WebhookSubscription:
    query = readable_webhook_subscriptions(principal).where(WebhookSubscription.id == subscription_id)
    if for_update:
        query = query.with_for_update()
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        raise errors.SubscriptionNotFound()
    return found


async def update_subscription(
    session: AsyncSession,
    principal: Principal,
    subscription_id: UUID,
    body: SubscriptionUpdate,
    *,
    expected_version: int | None,
    allow_insecure: bool,
) -> WebhookSubscription:
    """Change the URL or types, or disable / re-enable. Re-enabling clears the reason; deliveries still
    pending resume, and failed ones can be redelivered one by one. A change that leaves it active
    confirms the caller's membership again (`confirm_membership`); disabling needs no membership."""
    url = None if body.url is None else await _checked_url(body.url, allow_insecure)  # resolved unlocked
    subscription = await get_subscription(session, principal, subscription_id, for_update=True)
    check_version(subscription.version, expected_version)
    if url is not None:
        subscription.url = url
    if body.event_types is not None:
        subscription.event_types = sorted(set(body.event_types))
    if body.status == "active" and subscription.status != "active":
        subscription.status, subscription.disabled_reason, subscription.disabled_at = "active", None, None
    elif body.status == "disabled" and subscription.status != "disabled":
        subscription.status = "disabled"
        subscription.disabled_reason = f"disabled by {principal.subject}"
        subscription.disabled_at = datetime.now(UTC)
    if subscription.status == "active":
        confirm_membership(subscription, principal)
    subscription.version += 1
    await session.flush()
    await session.refresh(subscription)
    return subscription


async def rotate_secret(
    session: AsyncSession,
    principal: Principal,
    subscription_id: UUID,
    body: SecretRotation,
    *,
    keys: PartnershipKeys,
    expected_version: int | None,
) -> tuple[WebhookSubscription, str]:
    """A new signing secret, returned in clear once. The current one keeps signing beside it for the grace
    asked for, so receivers can switch without losing a delivery; an older one's grace ends now."""
    subscription = await get_subscription(session, principal, subscription_id, for_update=True)
    check_version(subscription.version, expected_version)
    if body.previous_secret_valid_for > 0:
        subscription.previous_secret_ciphertext = subscription.secret_ciphertext
        subscription.previous_secret_key_version = subscription.secret_key_version
        subscription.previous_secret_expires_at = datetime.now(UTC) + timedelta(
            seconds=body.previous_secret_valid_for
        )
    else:
        subscription.previous_secret_ciphertext = None
        subscription.previous_secret_key_version = None
        subscription.previous_secret_expires_at = None
    secret = new_secret()
    seal_secret(keys, subscription, secret)
    subscription.version += 1
    await session.flush()
    await session.refresh(subscription)
    return subscription, secret


async def delete_subscription(session: AsyncSession, principal: Principal, subscription_id: UUID) -> None:
    subscription = await get_subscription(session, principal, subscription_id, for_update=True)
    await session.delete(subscription)
    await session.flush()


async def list_deliveries(
    session: AsyncSession,
    principal: Principal,
    subscription_id: UUID,
    *,
    status: str | None,
    after: int | None,
    limit: int,
) -> list[WebhookDelivery]:
    """The delivery log, newest event first."""
    await get_subscription(session, principal, subscription_id)
    query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    if after is not None:
        query = query.where(WebhookDelivery.sequence < after)
    query = query.order_by(WebhookDelivery.sequence.desc()).limit(limit)
    return list((await session.execute(query)).scalars())


async def redeliver(
    session: AsyncSession, principal: Principal, subscription_id: UUID, delivery_id: UUID
) -> WebhookDelivery:
    """Queue a delivery again now (delivered or failed alike); the receiver dedupes on `webhook-id`."""
    await get_subscription(session, principal, subscription_id)
    delivery = (
        await session.execute(
            select(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.subscription_id == subscription_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if delivery is None:
        raise errors.DeliveryNotFound()
    delivery.status = "pending"
    delivery.next_attempt_at = datetime.now(UTC)
    delivery.created_at = datetime.now(UTC)  # the retry window starts again
    await session.flush()
    return delivery
