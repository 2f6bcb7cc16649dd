"""Problems of the webhook endpoints."""

from kit.problems import NotFound, Unprocessable


class SubscriptionNotFound(NotFound):
    code, title = (
        "webhook-subscription-not-found",
        "No such webhook subscription (or not your organisation's)",
    )


class DeliveryNotFound(NotFound):
    code, title = "webhook-delivery-not-found", "No such webhook delivery"


class UnsafeWebhookUrl(Unprocessable):
    code, title = "unsafe-webhook-url", "The webhook URL may not be delivered to"
