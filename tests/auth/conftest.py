"""Clients the OAuth tests need beyond the demo ones, registered through the admin API itself."""

import pytest
from joserfc.jwk import RSAKey

from tests.oauth import bearer, token_for

TWO_URIS = ["https://two.example.gov.cn/a", "https://two.example.gov.cn/b"]


@pytest.fixture
async def admin_headers(app) -> dict[str, str]:
    return bearer(await token_for(app, "admin", "admin"))


@pytest.fixture
async def two_uri_client(client, admin_headers) -> str:
    response = await client.post(
        "/api/v1/admin/clients",
        headers=admin_headers,
        json={
            "client_id": "two-uris",
            "name_zh": "两个回调",
            "name_en": "Two callbacks",
            "kind": "public",
            "token_endpoint_auth_method": "none",
            "redirect_uris": TWO_URIS,
            "grant_types": ["authorization_code"],
            "scopes": ["openid"],
        },
    )
    assert response.status_code == 201, response.text
    return "two-uris"


@pytest.fixture
def partner_key() -> RSAKey:
    key = RSAKey.generate_key(2048)
    key.ensure_kid()
    return key


@pytest.fixture
async def jwt_partner(client, admin_headers, partner_key) -> str:
    """A partner that authenticates with private_key_jwt (RFC 7523)."""
    public = {**partner_key.as_dict(private=False), "kid": partner_key.kid, "alg": "RS256", "use": "sig"}
    response = await client.post(
        "/api/v1/admin/clients",
        headers=admin_headers,
        json={
            "client_id": "jwt-partner",
            "name_zh": "密钥合作方",
            "name_en": "Key-based partner",
            "kind": "confidential",
            "token_endpoint_auth_method": "private_key_jwt",
            "grant_types": ["client_credentials"],
            "scopes": ["partner:read"],
            "jwks": {"keys": [public]},
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["client_secret"] is None
    return "jwt-partner"
