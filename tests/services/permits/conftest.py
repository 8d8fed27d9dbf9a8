"""Shared setup of the permit tests: the people, a fee-bearing market permit published through the catalogue API,
and helpers that drive applications over HTTP the way a client app does."""

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from core.worker import Worker
from main import worker_settings
from tests.oauth import bearer, client_token, token_for

APPLICATIONS = "/api/v1/permits/applications"
SERVICE = "street-vendor-permit"
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
FORM = {"stall_type": "food", "area_m2": 6, "location": "人才岛夜市 A-12"}

STREET_VENDOR = {
    "code": SERVICE,
    "department": "market",
    "kind": "permit",
    "category": "business",
    "audience": ["citizen", "business"],
    "title": {"zh-CN": "流动摊贩经营许可", "en": "Street vendor permit"},
    "description": {"zh-CN": "在指定区域流动经营的许可。", "en": "Permission to trade in designated areas."},
    "processing_time": {"duration": "P5D", "working_days": True},
    "legal_basis": {"zh-CN": "《无证无照经营查处办法》", "en": "Measures on Unlicensed Business Operations"},
    "eligibility": {"description": {"zh-CN": "年满18周岁的个人。", "en": "Adults."}, "rules": {"min_age": 18}},
    "channels": [{"type": "online", "url": "https://talentisland.jiangmen.gov.cn/vendor"}],
    "required_documents": [
        {
            "code": "id_card",
            "name": {"zh-CN": "身份证", "en": "ID card"},
            "media_types": ["image/jpeg", "application/pdf"],
            "max_size_bytes": 200_000,
        },
        {
            "code": "stall_photo",
            "name": {"zh-CN": "摊位照片", "en": "Photo of the stall"},
            "media_types": ["image/jpeg", "image/png", "application/pdf"],
            "max_size_bytes": 200_000,
            "required": False,
        },
    ],
    "costs": [
        {"code": "licence_fee", "amount": 5000, "description": {"zh-CN": "证照工本费50元。", "en": "CNY 50."}},
        {
            "code": "large_stall_fee",
            "amount": 2000,
            "description": {"zh-CN": "面积超过10平方米加收20元。", "en": "CNY 20 more above 10 m²."},
            "applies_when": {"field": "area_m2", "min": 10},
        },
    ],
    "form": [
        {
            "code": "stall_type",
            "datatype": "singlevaluelist",
            "required": True,
            "order": 1,
            "label": {"zh-CN": "摊位类型", "en": "Stall type"},
            "values": [
                {"key": "food", "name": {"zh-CN": "餐饮", "en": "Food"}},
                {"key": "goods", "name": {"zh-CN": "百货", "en": "Goods"}},
            ],
        },
        {
            "code": "area_m2",
            "datatype": "number",
            "required": True,
            "order": 2,
            "label": {"zh-CN": "面积（平方米）", "en": "Area (m²)"},
            "validation": {"min": 1, "max": 20},
        },
        {
            "code": "location",
            "datatype": "string",
            "required": True,
            "order": 3,
            "label": {"zh-CN": "经营地点", "en": "Location"},
        },
    ],
}


@pytest.fixture
async def citizen(app) -> dict[str, str]:
    return bearer(await token_for(app, "13800000001", "openid profile account permits:apply"))


@pytest.fixture
async def other_citizen(app) -> dict[str, str]:
    return bearer(await token_for(app, "13800000002", "openid profile account permits:apply"))


@pytest.fixture
async def officer(app) -> dict[str, str]:
    return bearer(await token_for(app, "officer.market", "permits:process"))


@pytest.fixture
async def other_officer(app) -> dict[str, str]:
    return bearer(await token_for(app, "officer.housing", "permits:process"))


@pytest.fixture
async def supervisor(app) -> dict[str, str]:
    return bearer(await token_for(app, "supervisor.market", "permits:process"))


@pytest.fixture
async def partner(app) -> dict[str, str]:
    return bearer(await client_token(app, "demo-partner", "partner:submit"))


@pytest.fixture
async def street_vendor(app, client, db) -> str:
    """A market-regulation permit with a fee, a required document and a conditional fee, published for the test."""
    editor = bearer(await token_for(app, "editor.market", "catalogue:write"))
    publisher = bearer(await token_for(app, "publisher", "catalogue:publish"))
    created = await client.post("/api/v1/catalogue/services", json=STREET_VENDOR, headers=editor)
    assert created.status_code == 201, created.text
    published = await client.post(
        f"/api/v1/catalogue/services/{SERVICE}/versions/1/actions/publish",
        headers={**publisher, "If-Match": created.headers["etag"]},
    )
    assert published.status_code == 200, published.text
    return SERVICE


@pytest.fixture
def worker(app, db, quiet_outbox) -> Worker:
    return Worker(db, context=app.state, settings=worker_settings(app.state.settings))


async def create(client: httpx.AsyncClient, headers: dict[str, str], **body) -> dict:
    response = await client.post(APPLICATIONS, json={"service_code": SERVICE, "form": FORM, **body}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def fetch(client: httpx.AsyncClient, headers: dict[str, str], application_id: str) -> httpx.Response:
    return await client.get(f"{APPLICATIONS}/{application_id}", headers=headers)


async def act(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    app_id: str,
    action: str,
    *,
    etag: str | None = None,
    **body,
) -> httpx.Response:
    """Take an action with the application's current ETag (fetched as `headers` sees it, unless given)."""
    if etag is None:
        current = await fetch(client, headers, app_id)
        assert current.status_code == 200, current.text
        etag = current.headers["etag"]
    return await client.post(
        f"{APPLICATIONS}/{app_id}/actions/{action}", json=body or None, headers={**headers, "If-Match": etag}
    )


async def upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    application_id: str,
    code: str = "id_card",
    content: bytes = PDF,
    media_type: str = "application/pdf",
    *,
    confirm_sha256: str | None = None,
) -> httpx.Response:
    """Announce, PUT to the presigned URL (the mock cloud's storage), confirm; the confirmation's response."""
    started = await client.post(
        f"{APPLICATIONS}/{application_id}/documents",
        json={"code": code, "filename": f"{code}.pdf", "media_type": media_type, "size": len(content)},
        headers=headers,
    )
    assert started.status_code == 201, started.text
    target = started.json()["upload"]
    put = await client.request(target["method"], target["url"], content=content, headers=target["headers"])
    assert put.status_code == 200, put.text
    document_id = started.json()["document"]["id"]
    return await client.post(
        f"{APPLICATIONS}/{application_id}/documents/{document_id}/confirm",
        json={"sha256": confirm_sha256 or hashlib.sha256(content).hexdigest()},
        headers=headers,
    )


@asynccontextmanager
async def partner_hears(app, client: httpx.AsyncClient, events: list[str], *, signed: bool = True) -> AsyncIterator:
    """demo-partner subscribed to `events` at a receiver on loopback (which refuses every delivery with 401 unless
    `signed`: it then knows the secret); the receiver, shut down afterwards."""
    from tests.services.partners.test_webhooks import Receiver

    receiver = Receiver()
    try:
        manage = bearer(await client_token(app, "demo-partner", "webhooks:manage"))
        subscribed = await client.post(
            "/api/v1/partners/webhooks", json={"url": receiver.url, "events": events}, headers=manage
        )
        assert subscribed.status_code == 201, subscribed.text
        receiver.secret = subscribed.json()["secret"] if signed else None
        receiver.hook, receiver.manage = subscribed.json()["id"], manage
        yield receiver
    finally:
        receiver.server.shutdown()
