"""How the app gets its cloud: the ports on `app.state.cloud`, built once per process by `build_cloud`.

Routes ask for `CloudDep` (the ports), so a test or another deployment swaps the implementation without patching.
Callback routes ask for `SignedCallback`, which refuses anything not signed by the cloud's callback key pair.
"""

import time
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI, Request

from core.db import SessionDep
from core.outbound import guarded_client
from core.settings import Settings
from services.cloud import service, signing
from services.cloud.adapters import CloudESign, CloudIdentityVerification, CloudObjectStorage, CloudPayments, CloudSms
from services.cloud.client import CloudClient
from services.cloud.exceptions import CallbackUnauthorized
from services.cloud.mock_server import MockCloud, create_mock_app
from services.cloud.ports import Cloud

MOCK_MOUNT = "/mock-cloud"


@dataclass
class CloudRuntime:
    cloud: Cloud
    client: CloudClient
    mock: MockCloud | None = None
    mock_app: FastAPI | None = None

    async def close(self) -> None:
        await self.client.http.aclose()
        if self.mock is not None:
            for task in list(self.mock.tasks):
                task.cancel()
            if self.mock.callback is not None:
                await self.mock.callback.aclose()


def mock_for(settings: Settings, *, public_base_url: str, callback: httpx.AsyncClient | None) -> MockCloud:
    """The mock cloud, knowing our API key and signing its callbacks with our callback key pair."""
    mock = MockCloud(
        api_secrets={settings.cloud_secret_id: settings.cloud_secret_key.get_secret_value()},
        callback_secret_id=settings.cloud_callback_secret_id,
        callback_secret_key=settings.cloud_callback_secret_key.get_secret_value(),
        data_dir=settings.cloud_mock_dir,
        public_base_url=public_base_url,
        callback=callback,
    )
    mock.set_faults(settings.cloud_mock_faults)
    return mock


def build_cloud(settings: Settings, app: FastAPI) -> CloudRuntime:
    """The adapter, on the configured cloud, or on an in-process mock that calls back into `app`."""
    mock = mock_app = None
    if settings.cloud_base_url is None:
        callback = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=settings.issuer)
        mock = mock_for(settings, public_base_url=settings.cloud_public_base_url, callback=callback)
        mock_app = create_mock_app(mock)
        http = guarded_client(base_url="http://mock-cloud.internal", transport=httpx.ASGITransport(mock_app))
    else:
        base = httpx.URL(settings.cloud_base_url)
        schemes = ("https",) if settings.is_production else ("https", "http")
        http = guarded_client(base_url=settings.cloud_base_url, trusted_hosts={base.host}, schemes=schemes)
    client = CloudClient(
        http=http,
        secret_id=settings.cloud_secret_id,
        secret_key=settings.cloud_secret_key.get_secret_value(),
        region=settings.cloud_region,
        timeout=settings.cloud_timeout,
        max_attempts=settings.cloud_max_attempts,
        backoff=settings.cloud_backoff,
        breaker_failures=settings.cloud_breaker_failures,
        breaker_reset=settings.cloud_breaker_reset,
    )
    cloud = Cloud(
        storage=CloudObjectStorage(
            client,
            public_base_url=settings.cloud_public_base_url,
            bucket=settings.cloud_bucket,
            ttl=settings.upload_url_ttl,
        ),
        sms=CloudSms(client),
        identity=CloudIdentityVerification(client),
        payments=CloudPayments(client),
        esign=CloudESign(client),
    )
    return CloudRuntime(cloud=cloud, client=client, mock=mock, mock_app=mock_app)


async def get_cloud(request: Request) -> Cloud:
    return request.app.state.cloud.cloud


# What a route that calls the cloud may answer besides its own: 502 (the cloud answered wrongly), 503 (out of reach,
# or its breaker open). The OpenAPI document adds them to every such route (core.openapi).
get_cloud.problems = (502, 503)  # type: ignore[attr-defined]


CloudDep = Annotated[Cloud, Depends(get_cloud)]


async def signed_callback(request: Request, session: SessionDep) -> None:
    """The callback is signed by the cloud (TC3, service `callback`, nonce signed), fresh, and not seen before."""
    settings: Settings = request.app.state.settings
    headers = {key.lower(): value for key, value in request.headers.items()}
    try:
        verified = signing.verify(
            headers=headers,
            body=await request.body(),
            secrets={settings.cloud_callback_secret_id: settings.cloud_callback_secret_key.get_secret_value()},
            now=int(time.time()),
            uri=request.url.path,
        )
    except signing.SignatureError as exc:
        raise CallbackUnauthorized(exc.message, extra={"cloud_code": exc.code}) from None
    if verified.service != "callback" or "x-tc-nonce" not in verified.signed_headers:
        raise CallbackUnauthorized("The callback must be signed for service `callback`, with its nonce.")
    await service.remember_nonce(session=session, nonce=headers["x-tc-nonce"][:64])


SignedCallback = Depends(signed_callback)
