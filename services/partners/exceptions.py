"""Errors of partner webhooks (problem+json through core.errors)."""

from core.errors import Conflict, NotFound, ValidationFailed


class SubscriptionNotFound(NotFound):
    code, title = "webhook-not-found", "No such webhook subscription"


class DeliveryNotFound(NotFound):
    code, title = "webhook-delivery-not-found", "No such webhook delivery"


class UnsafeWebhookUrl(ValidationFailed):
    code, title = "webhook-url-refused", "The webhook URL is not allowed"


class UnknownEvent(ValidationFailed):
    code, title = "webhook-event-unknown", "No such partner-visible event"


class TooManySubscriptions(Conflict):
    code, title = "webhook-limit-reached", "Too many webhook subscriptions"


class DeliveryQueued(Conflict):
    code, title = "webhook-delivery-queued", "The delivery is already queued"
