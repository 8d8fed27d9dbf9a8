"""Who may manage webhooks (partner clients with `webhooks:manage`), and the guarded client deliveries go through."""

from typing import Annotated

from fastapi import Depends, Request

from auth.guards import Principal, require
from core.http.idempotency import IdempotencyClaim, idempotency
from core.outbound import GuardedTransport, guarded_client
from core.settings import Settings

Partner = Annotated[Principal, require(scopes={"webhooks:manage"})]


async def _partner_key(partner: Partner) -> str:
    return f"partners:{partner.client_id}"


PartnerKey = Annotated[IdempotencyClaim | None, Depends(idempotency(_partner_key))]


def webhook_guard(settings: Settings) -> GuardedTransport:
    """https to public addresses only; the test suite's receivers on loopback (http) need the test-only setting."""
    schemes = ("https", "http") if settings.webhook_allow_loopback else ("https",)
    return GuardedTransport(allow_loopback=settings.webhook_allow_loopback, schemes=schemes)


def webhook_client(settings: Settings):
    return guarded_client(transport=webhook_guard(settings), timeout=10.0)


async def get_guard(request: Request) -> GuardedTransport:
    return request.app.state.webhook_guard


Guard = Annotated[GuardedTransport, Depends(get_guard)]
