"""`/api/v1/partners/webhooks`: a partner's own subscriptions and deliveries (another partner's are 404)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response

from auth.identity import IdentityDep
from core.db import SessionDep
from core.errors import problems
from core.events import CATALOGUE
from core.http import ApiRoute, IfMatch, set_etag
from core.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from services.partners import repository, service
from services.partners.dependencies import Guard, Partner, PartnerKey
from services.partners.models import WebhookDelivery, WebhookSubscription
from services.partners.schemas import (
    DeliveryRead,
    EventTypeRead,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
    WebhookUpdate,
)

router = APIRouter(
    prefix="/api/v1/partners/webhooks", tags=["partners"], route_class=ApiRoute, responses=problems(401, 403)
)
WebhookId = Annotated[uuid.UUID, Path()]


@router.get("/events", response_model=list[EventTypeRead])
async def list_event_types(_partner: Partner) -> list[EventTypeRead]:
    """The events a partner may subscribe to."""
    return [EventTypeRead(**CATALOGUE[name].__dict__) for name in service.partner_events()]


@router.post("", status_code=201, response_model=WebhookCreated, responses=problems(409, 422))
async def create_webhook(
    data: WebhookCreate,
    partner: Partner,
    session: SessionDep,
    identity: IdentityDep,
    guard: Guard,
    response: Response,
    _key: PartnerKey,
) -> WebhookCreated:
    """Subscribe an https URL to events. The signing secret is in this response only (and in its replay to a retry
    with the same Idempotency-Key, within a day)."""
    created = await service.create_subscription(
        session=session, identity=identity, guard=guard, client_id=partner.client_id, data=data
    )
    response.headers["Location"] = f"/api/v1/partners/webhooks/{created.id}"
    set_etag(response, created.version)
    return created


@router.get("", response_model=Page[WebhookRead], responses=problems(422))
async def list_webhooks(
    partner: Partner, session: SessionDep, limit: Limit = 20, cursor: Cursor = None
) -> Page[WebhookRead]:
    after = decode_cursor(cursor, [WebhookSubscription.id])[0] if cursor else None
    rows = await repository.subscriptions(session, partner.client_id, limit=limit, after=after)
    items = [WebhookRead.model_validate(row, from_attributes=True) for row in rows[:limit]]
    return Page(items=items, next_cursor=encode_cursor([items[-1].id]) if len(rows) > limit else None)


@router.get("/{webhook_id}", response_model=WebhookRead, responses=problems(404, 422))
async def read_webhook(webhook_id: WebhookId, partner: Partner, session: SessionDep, response: Response) -> WebhookRead:
    row = await service.get_subscription(session=session, client_id=partner.client_id, subscription_id=webhook_id)
    set_etag(response, row.version)
    return WebhookRead.model_validate(row, from_attributes=True)


@router.patch("/{webhook_id}", response_model=WebhookRead, responses=problems(404, 412, 422, 428))
async def update_webhook(
    webhook_id: WebhookId,
    data: WebhookUpdate,
    partner: Partner,
    session: SessionDep,
    guard: Guard,
    response: Response,
    if_match: IfMatch = None,
) -> WebhookRead:
    """Change the URL, events, description, or pause it (`active: false`); send If-Match."""
    updated = await service.update_subscription(
        session=session,
        guard=guard,
        client_id=partner.client_id,
        subscription_id=webhook_id,
        data=data,
        if_match=if_match,
    )
    set_etag(response, updated.version)
    return updated


@router.delete("/{webhook_id}", status_code=204, responses=problems(404, 422))
async def delete_webhook(webhook_id: WebhookId, partner: Partner, session: SessionDep) -> Response:
    await service.delete_subscription(session=session, client_id=partner.client_id, subscription_id=webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=Page[DeliveryRead], responses=problems(404, 422))
async def list_deliveries(
    webhook_id: WebhookId, partner: Partner, session: SessionDep, limit: Limit = 20, cursor: Cursor = None
) -> Page[DeliveryRead]:
    """Deliveries of one of your subscriptions, newest first; each is kept 30 days after it last moved (one still
    being sent, for as long as that takes)."""
    await service.get_subscription(session=session, client_id=partner.client_id, subscription_id=webhook_id)
    before = decode_cursor(cursor, [WebhookDelivery.id])[0] if cursor else None
    rows = await repository.deliveries(session, partner.client_id, webhook_id, limit=limit, before=before)
    items = [DeliveryRead.model_validate(row, from_attributes=True) for row in rows[:limit]]
    return Page(items=items, next_cursor=encode_cursor([items[-1].id]) if len(rows) > limit else None)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/replay",
    status_code=202,
    response_model=DeliveryRead,
    responses=problems(404, 409, 422),
)
async def replay_delivery(
    webhook_id: WebhookId, delivery_id: Annotated[uuid.UUID, Path()], partner: Partner, session: SessionDep
) -> DeliveryRead:
    """Deliver it again (same Webhook-Id, so your receiver can tell); one waiting for its next retry is sent now."""
    row = await service.replay(
        session=session, client_id=partner.client_id, subscription_id=webhook_id, delivery_id=delivery_id
    )
    return DeliveryRead.model_validate(row, from_attributes=True)
