"""HTTP routes for webhook subscriptions (per organisation, `webhooks:manage`) and their delivery log.

The signing secret is in clear only in the responses that create it (subscribing, rotating). The
`Idempotency-Key` layer stores those for replay, so what it stores carries the secret sealed instead (the
subscription's own ciphertext and key version); a replay opens it with the key ring and answers exactly
what the first response said, even after the subscription was deleted or rotated again. kit stays
generic: the route chooses what to store.
"""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from kit.auth import Principal, scoped
from kit.db import DbSession
from kit.idempotency import Idempotency, replayed_with
from kit.openapi import sends
from kit.pagination import DEFAULT_LIMIT, Limit, Page
from kit.problems import BadRequest, problem_responses
from services.outcomes.dependencies import ExpectedVersion, IdempotencyKey, etag
from services.outcomes.pseudonyms import PartnershipKeys
from services.outcomes.webhooks import service
from services.outcomes.webhooks.models import WebhookSubscription
from services.outcomes.webhooks.schemas import (
    DeliveryRead,
    SecretRotation,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionRead,
    SubscriptionUpdate,
)

router = APIRouter(prefix="/v1", tags=["webhooks"])

WebhookManager = Annotated[Principal, Depends(scoped("webhooks:manage"))]


def _allow_insecure(request: Request) -> bool:
    return bool(request.app.state.webhook_policy.allow_insecure)


def _partnership_keys(request: Request) -> PartnershipKeys:
    keys: PartnershipKeys = request.app.state.partnership_keys
    return keys


def _sealed(sub: WebhookSubscription) -> dict[str, Any]:
    return {
        "key_version": sub.secret_key_version,
        "ciphertext": base64.b64encode(sub.secret_ciphertext).decode(),
    }


async def _with_secret(
    idempotency: Idempotency, status_code: int, sub: WebhookSubscription, secret: str
) -> JSONResponse:
    """The subscription and its new secret; stored for replay with the secret sealed."""
    read = SubscriptionRead.model_validate(sub).model_dump(mode="json")
    headers = {**etag(sub.version), "Cache-Control": "no-store"}
    if status_code == 201:
        headers["Location"] = f"/v1/webhook-subscriptions/{sub.id}"
    await idempotency.record(status_code, {**read, "secret": _sealed(sub)}, headers)
    return JSONResponse({**read, "secret": secret}, status_code=status_code, headers=headers)


def _opened(replayed: JSONResponse, keys: PartnershipKeys) -> JSONResponse:
    """The stored creation answer with its sealed secret opened, as the first response showed it."""
    body = json.loads(bytes(replayed.body))
    if isinstance(sealed := body.get("secret"), dict):
        body["secret"] = keys.decrypt_webhook_secret(
            base64.b64decode(sealed["ciphertext"]),
            version=sealed["key_version"],
            partnership_id=UUID(body["partnership_id"]),
            subscription_id=UUID(body["id"]),
        )
    return replayed_with(replayed, body)


@router.post(
    "/webhook-subscriptions",
    status_code=201,
    response_model=SubscriptionCreated,
    summary="Subscribe your organisation to a partnership's events; the secret is shown only here",
    responses={**problem_responses(400, 401, 403, 409, 422), **sends(201, "ETag")},
)
async def create_subscription(
    body: SubscriptionCreate,
    request: Request,
    session: DbSession,
    principal: WebhookManager,
    idempotency: IdempotencyKey,
) -> Response:
    keys = _partnership_keys(request)
    if (replayed := await idempotency.replay()) is not None:
        return _opened(replayed, keys)
    sub, secret = await service.create_subscription(
        session, principal, body, keys=keys, allow_insecure=_allow_insecure(request)
    )
    return await _with_secret(idempotency, 201, sub, secret)


@router.get(
    "/webhook-subscriptions",
    response_model=Page[SubscriptionRead],
    summary="Your organisation's subscriptions",
    responses=problem_responses(401, 403),
)
async def list_subscriptions(session: DbSession, principal: WebhookManager) -> Page[SubscriptionRead]:
    rows = (
        await session.execute(
            service.readable_webhook_subscriptions(principal).order_by(WebhookSubscription.created_at)
        )
    ).scalars()
    return Page[SubscriptionRead](items=[SubscriptionRead.model_validate(r) for r in rows])


@router.get(
    "/webhook-subscriptions/{subscription_id}",
    response_model=SubscriptionRead,
    summary="One subscription, with why it was disabled if it was",
    responses={**problem_responses(401, 403, 404), **sends(200, "ETag")},
)
async def get_subscription(
    subscription_id: UUID, session: DbSession, principal: WebhookManager, response: Response
) -> SubscriptionRead:
    sub = await service.get_subscription(session, principal, subscription_id)
    response.headers.update(etag(sub.version))
    return SubscriptionRead.model_validate(sub)


@router.patch(
    "/webhook-subscriptions/{subscription_id}",
    response_model=SubscriptionRead,
    summary="Change the URL or event types, disable, or re-enable a subscription",
    responses={**problem_responses(400, 401, 403, 404, 412, 422), **sends(200, "ETag")},
)
async def update_subscription(
    subscription_id: UUID,
    body: SubscriptionUpdate,
    request: Request,
    session: DbSession,
    principal: WebhookManager,
    expected: ExpectedVersion,
    response: Response,
) -> SubscriptionRead:
    sub = await service.update_subscription(
        session,
        principal,
        subscription_id,
        body,
        expected_version=expected,
        allow_insecure=_allow_insecure(request),
    )
    response.headers.update(etag(sub.version))
    return SubscriptionRead.model_validate(sub)


@router.post(
    "/webhook-subscriptions/{subscription_id}/secret-rotation",
    response_model=SubscriptionCreated,
    summary="A new signing secret, shown only here; the previous one keeps signing beside it for a while",
    responses={**problem_responses(400, 401, 403, 404, 409, 412, 422), **sends(200, "ETag")},
)
async def rotate_secret(
    subscription_id: UUID,
    request: Request,
    session: DbSession,
    principal: WebhookManager,
    idempotency: IdempotencyKey,
    expected: ExpectedVersion,
    body: SecretRotation | None = None,
) -> Response:
    keys = _partnership_keys(request)
    if (replayed := await idempotency.replay()) is not None:
        return _opened(replayed, keys)
    sub, secret = await service.rotate_secret(
        session, principal, subscription_id, body or SecretRotation(), keys=keys, expected_version=expected
    )
    return await _with_secret(idempotency, 200, sub, secret)


@router.delete(
    "/webhook-subscriptions/{subscription_id}",
    status_code=204,
    summary="Delete a subscription and its delivery log",
    responses=problem_responses(401, 403, 404),
)
async def delete_subscription(
    subscription_id: UUID, session: DbSession, principal: WebhookManager
) -> Response:
    await service.delete_subscription(session, principal, subscription_id)
    return Response(status_code=204)


@router.get(
    "/webhook-subscriptions/{subscription_id}/deliveries",
    response_model=Page[DeliveryRead],
    summary="The delivery log, newest event first",
    responses=problem_responses(400, 401, 403, 404),
)
async def list_deliveries(
    subscription_id: UUID,
    session: DbSession,
    principal: WebhookManager,
    status: Annotated[Literal["pending", "delivered", "failed"] | None, Query()] = None,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[DeliveryRead]:
    if cursor and not (cursor.isascii() and cursor.isdigit()):  # isdigit alone takes "²", which int() refuses
        raise BadRequest.field("cursor", "not a cursor this API issued")
    after = int(cursor) if cursor else None
    rows = await service.list_deliveries(
        session, principal, subscription_id, status=status, after=after, limit=limit
    )
    return Page[DeliveryRead](
        items=[DeliveryRead.model_validate(r) for r in rows],
        next_cursor=str(rows[-1].sequence) if len(rows) == limit else None,
    )


@router.post(
    "/webhook-subscriptions/{subscription_id}/deliveries/{delivery_id}/redelivery",
    response_model=DeliveryRead,
    summary="Send a delivery again, now",
    responses=problem_responses(401, 403, 404),
)
async def redeliver(
    subscription_id: UUID, delivery_id: UUID, session: DbSession, principal: WebhookManager
) -> DeliveryRead:
    return DeliveryRead.model_validate(
        await service.redeliver(session, principal, subscription_id, delivery_id)
    )
