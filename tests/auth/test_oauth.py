"""The OAuth2 / OIDC properties of REFERENCES.md, one test (or more) each, driven over HTTP with real tokens."""

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import select, update

from auth.models import AuthorizationCode, OAuthClient, RefreshToken
from core.models import utcnow
from core.settings import Settings
from main import create_app
from tests.auth.conftest import TWO_URIS
from tests.conftest import asgi_client
from tests.helpers import assert_problem
from tests.oauth import CONSOLE, WEB, authorize, bearer, csrf_of, exchange, pkce, sign_in, token_for

WEB_SCOPE = "openid profile phone permits:apply"
CONSOLE_AUTH = ("officer-console", "officer-console-secret")
ISSUER = "http://127.0.0.1:8000"  # the test settings' public base URL
PARTNER_AUTH = ("demo-partner", "demo-partner-secret")


def _authorize_url(**overrides: str) -> str:
    _, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": WEB["client_id"],
        "redirect_uri": WEB["redirect_uri"],
        "scope": "openid profile",
        "state": "s-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **overrides,
    }
    return "/oauth2/authorize?" + urlencode({k: v for k, v in params.items() if v is not None})


def _error_of(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text[:300]
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return {key: values[0] for key, values in query.items()}


async def _eventually(check, *, within: float = 2.5) -> None:
    """Revocations reach every process within two seconds: poll for that long, no longer."""
    deadline = time.monotonic() + within
    while True:
        if await check():
            return
        assert time.monotonic() < deadline, "not refused within the 2-second revocation window"
        await asyncio.sleep(0.1)


async def _refused(http: httpx.AsyncClient, token: str) -> bool:
    return (await http.get("/api/v1/me", headers=bearer(token))).status_code == 401


# 1. Redirect URI exact match -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:8765/callback/",  # trailing slash
        "http://127.0.0.1:8765/callback?extra=1",  # extra query
        "http://127.0.0.1:8765/callback/../evil",  # dot segments
        "http://127.0.0.1:8765/CALLBACK",  # case change
        "https://127.0.0.1:8765/callback",  # scheme change
        "http://127.0.0.1:8765@evil.example/callback",  # userinfo trick
        "http://127.0.0.1:8765/callback#fragment",  # fragment
        "http://evil.example/callback",
    ],
)
async def test_1_redirect_uri_must_match_exactly(client, redirect_uri: str) -> None:
    response = await client.get(_authorize_url(redirect_uri=redirect_uri))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "invalid_request" in response.text


async def test_1_missing_redirect_uri_with_several_registered_is_an_error_page(client, two_uri_client) -> None:
    response = await client.get(_authorize_url(client_id=two_uri_client, redirect_uri=None))
    assert response.status_code == 400
    assert "location" not in response.headers
    # With one of them named exactly, the same client proceeds to the sign-in page.
    assert (await client.get(_authorize_url(client_id=two_uri_client, redirect_uri=TWO_URIS[1]))).status_code == 200


async def test_1_missing_redirect_uri_on_an_openid_request_is_an_error_page(client) -> None:
    """OIDC Core 3.1.2.1: an OpenID request names its redirect_uri, even for a client with one registered."""
    for overrides in ({}, {"response_type": "token"}):  # an error the client would otherwise be sent back with
        response = await client.get(_authorize_url(redirect_uri=None, **overrides))
        assert response.status_code == 400
        assert "location" not in response.headers
        assert response.headers["content-type"].startswith("text/html")
        assert "invalid_request" in response.text
        assert "redirect_uri is required" in response.text


async def test_1_plain_oauth_may_still_leave_out_the_one_registered_redirect_uri(client) -> None:
    """RFC 6749 3.1.2.3: without openid, a client with one registered URI may omit it; the code goes there."""
    verifier, challenge = pkce()
    query = {
        "response_type": "code",
        "client_id": WEB["client_id"],
        "scope": "permits:apply",
        "state": "plain",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    await sign_in(client, "13800000001", "openid permits:apply", app=WEB)  # signed in, and consented to the scope
    answer = await client.get("/oauth2/authorize?" + urlencode(query))
    assert answer.status_code == 302, answer.text[:300]
    assert answer.headers["location"].startswith(WEB["redirect_uri"] + "?")
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    token = await client.post(
        "/oauth2/token",
        data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier, "client_id": "demo-web"},
    )
    assert token.status_code == 200, token.text
    assert "id_token" not in token.json()


async def test_1_unknown_client_is_an_error_page(client) -> None:
    response = await client.get(_authorize_url(client_id="nobody"))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "invalid_client" in response.text


@pytest.mark.parametrize(
    "overrides",
    [
        {"redirect_uri": WEB["redirect_uri"] + "\t"},  # a trailing tab
        {"redirect_uri": 'http://127.0.0.1:8765/callback"'},
        {"redirect_uri": "http://127.0.0.1:8765/callbäck"},
        {"response_type": "tökén"},
    ],
)
async def test_1_parameters_authlib_cannot_quote_in_an_error_are_an_error_page(client, overrides) -> None:
    # Authlib refuses to put these characters in an error_description: the answer is still the error page.
    response = await client.get(_authorize_url(**overrides))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "invalid_request" in response.text
    assert "Traceback" not in response.text


# 2. No implicit, no password grant -----------------------------------------------------------------------------------


async def test_2_implicit_is_unsupported(client) -> None:
    error = _error_of(await client.get(_authorize_url(response_type="token")))
    assert error["error"] == "unsupported_response_type"
    assert error["state"] == "s-123"


async def test_2_password_grant_is_unsupported(client) -> None:
    response = await client.post(
        "/oauth2/token",
        data={"grant_type": "password", "username": "admin", "password": "TalentIsland-2026!"},
        auth=("officer-console", "officer-console-secret"),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


async def test_2_metadata_lists_neither(client) -> None:
    metadata = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert "token" not in metadata["response_types_supported"]
    assert "password" not in metadata["grant_types_supported"]
    assert "implicit" not in metadata["grant_types_supported"]


# 3. PKCE S256 for every client ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client_id", "redirect_uri"),
    [(WEB["client_id"], WEB["redirect_uri"]), (CONSOLE["client_id"], CONSOLE["redirect_uri"])],
)
async def test_3_missing_challenge_is_refused_for_public_and_confidential(client, client_id, redirect_uri) -> None:
    url = _authorize_url(
        client_id=client_id, redirect_uri=redirect_uri, code_challenge=None, code_challenge_method=None
    )
    error = _error_of(await client.get(url))
    assert error["error"] == "invalid_request"
    assert "PKCE" in error["error_description"]


async def test_3_plain_is_refused(client) -> None:
    error = _error_of(await client.get(_authorize_url(code_challenge="a" * 43, code_challenge_method="plain")))
    assert error["error"] == "invalid_request"


async def test_3_malformed_challenge_is_refused(client) -> None:
    error = _error_of(await client.get(_authorize_url(code_challenge="short")))
    assert error["error"] == "invalid_request"


async def test_3_wrong_missing_or_malformed_verifier_is_refused(client) -> None:
    for verifier, expected in (("x" * 60, "invalid_grant"), (None, "invalid_request"), ("bad!", "invalid_request")):
        code = await authorize(client, login="13800000001", scope="openid", **WEB)
        code.verifier = verifier
        data = {
            "grant_type": "authorization_code",
            "code": code.code,
            "redirect_uri": code.redirect_uri,
            "client_id": WEB["client_id"],
        }
        if verifier is not None:
            data["code_verifier"] = verifier
        response = await client.post("/oauth2/token", data=data)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == expected


# 4. A code works once ------------------------------------------------------------------------------------------------


async def test_4_second_exchange_fails_and_revokes_the_first_tokens(client) -> None:
    code = await authorize(client, login="13800000001", scope="openid profile", **WEB)
    first = await exchange(client, code, client_id=WEB["client_id"])
    assert first.status_code == 200
    tokens = first.json()
    assert (await client.get("/api/v1/me", headers=bearer(tokens["access_token"]))).status_code == 200
    second = await exchange(client, code, client_id=WEB["client_id"])
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    await _eventually(lambda: _refused(client, tokens["access_token"]))
    refreshed = await client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "client_id": "demo-web", "refresh_token": tokens["refresh_token"]},
    )
    assert refreshed.json()["error"] == "invalid_grant"


async def test_4_two_concurrent_exchanges_exactly_one_succeeds(client) -> None:
    code = await authorize(client, login="13800000002", scope="openid", **WEB)
    responses = await asyncio.gather(*(exchange(client, code, client_id=WEB["client_id"]) for _ in range(2)))
    assert sorted(r.status_code for r in responses) == [200, 400]
    assert [r.json()["error"] for r in responses if r.status_code == 400] == ["invalid_grant"]


# 5. Short-lived and bound ------------------------------------------------------------------------------------------


async def test_5_code_lives_at_most_sixty_seconds(client, db) -> None:
    code = await authorize(client, login="13800000001", scope="openid", **WEB)
    async with db.engine.connect() as connection:
        row = (await connection.execute(select(AuthorizationCode.__table__))).mappings().all()[-1]
    assert row["expires_at"] - row["created_at"] <= timedelta(seconds=60)
    async with db.write_engine.begin() as connection:
        await connection.execute(update(AuthorizationCode.__table__).values(expires_at=utcnow()))
    response = await exchange(client, code, client_id=WEB["client_id"])
    assert response.json()["error"] == "invalid_grant"


async def test_5_code_is_bound_to_client_and_redirect_uri(client) -> None:
    code = await authorize(client, login="13800000001", scope="openid", **WEB)
    stolen = await exchange(client, code, client_id="officer-console", secret="officer-console-secret")
    assert stolen.json()["error"] == "invalid_grant"
    code = await authorize(client, login="13800000001", scope="openid", **WEB)
    code.redirect_uri = "http://127.0.0.1:8765/other"
    moved = await exchange(client, code, client_id=WEB["client_id"])
    assert moved.json()["error"] == "invalid_grant"


async def test_5_a_code_from_a_sign_in_since_signed_out_of_is_refused(client) -> None:
    code = await authorize(client, login="13800000001", scope="openid", **WEB)
    page = await client.get("/oauth2/logout")
    signed_out = await client.post("/oauth2/logout", data={"decision": "logout", "csrf_token": csrf_of(page)})
    assert signed_out.status_code == 200
    late = await exchange(client, code, client_id=WEB["client_id"])
    assert late.json()["error"] == "invalid_grant"


# 6. state and iss in every authorization response ----------------------------------------------------------------


async def test_6_success_carries_state_and_iss(client, settings) -> None:
    code = await authorize(client, login="13800000001", scope="openid", **WEB)
    assert code.state
    assert code.iss == settings.issuer


async def test_6_errors_carry_state_and_iss(client, settings) -> None:
    error = _error_of(await client.get(_authorize_url(scope="no-such-scope", state="keep-me")))
    assert error["error"] == "invalid_scope"
    assert error["state"] == "keep-me"
    assert error["iss"] == settings.issuer


# 7. Client authentication --------------------------------------------------------------------------------------------


async def test_7_wrong_secret_is_401_with_basic_challenge(client) -> None:
    response = await client.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, auth=("demo-partner", "wrong-secret")
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


async def test_7_more_than_one_authentication_method_is_invalid_request(client) -> None:
    # RFC 6749 2.3: Basic and client_secret in the body are two methods, even when both are right.
    response = await client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "demo-partner", "client_secret": "demo-partner-secret"},
        auth=PARTNER_AUTH,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "access_token" not in response.json()


@pytest.mark.parametrize("path", ["/oauth2/token", "/oauth2/introspect"])
async def test_7_a_body_client_id_naming_another_client_than_basic_is_refused(client, path) -> None:
    data = {"grant_type": "client_credentials", "token": "whatever"}
    response = await client.post(path, data={**data, "client_id": "officer-console"}, auth=PARTNER_AUTH)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "access_token" not in response.json()
    # Naming the same client in both places is one method, and fine.
    same = await client.post(path, data={**data, "client_id": "demo-partner"}, auth=PARTNER_AUTH)
    assert same.status_code == 200, same.text


async def test_7_only_authenticated_requests_spend_a_clients_budget(settings: Settings, db) -> None:
    app = create_app(settings.model_copy(update={"token_requests_per_client": (3, 60)}))
    unauthenticated = [
        ("/oauth2/token", {"grant_type": "client_credentials", "client_id": "demo-partner"}, None),
        ("/oauth2/token", {"grant_type": "client_credentials"}, ("demo-partner", "a guess")),
        ("/oauth2/revoke", {"token": "whatever", "client_id": "demo-partner"}, None),
        ("/oauth2/introspect", {"token": "whatever"}, ("demo-partner", "a guess")),
    ]
    try:
        async with asgi_client(app) as http:
            for _ in range(3):
                for path, data, auth in unauthenticated:
                    refused = await http.post(path, data=data, auth=auth)
                    assert refused.json()["error"] == "invalid_client", (path, refused.text)
            # The partner still has its whole budget, whichever endpoint spends it...
            spent = [
                await http.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=PARTNER_AUTH),
                await http.post("/oauth2/introspect", data={"token": "whatever"}, auth=PARTNER_AUTH),
                await http.post("/oauth2/revoke", data={"token": "whatever"}, auth=PARTNER_AUTH),
            ]
            assert [r.status_code for r in spent] == [200, 200, 200], [r.text for r in spent]
            assert spent[0].json()["token_type"] == "Bearer"
            # A public client is authenticated by being named, so it has no budget anyone could spend for it.
            for _ in range(4):
                bogus = {"grant_type": "refresh_token", "refresh_token": "made up", "client_id": "demo-web"}
                assert (await http.post("/oauth2/token", data=bogus)).json()["error"] == "invalid_grant"
            # ...and no more than it.
            over = await http.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=PARTNER_AUTH)
        assert over.status_code == 429
        assert over.json()["error"] == "slow_down"
        assert int(over.headers["retry-after"]) > 0
        assert over.headers["cache-control"] == "no-store"
    finally:
        await app.state.db.dispose()


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _hs256_forgery(header: dict, claims: dict, secret: bytes) -> str:
    """What an attacker sends: HS256 "signed" with a public key used as the HMAC secret (alg confusion)."""
    signing_input = f"{_b64(header)}.{_b64(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _assertion(key, *, alg: str = "RS256", headers: dict | None = None, **claims) -> str:
    now = int(time.time())
    body = {
        "iss": "jwt-partner",
        "sub": "jwt-partner",
        "aud": ISSUER,
        "iat": now,
        "exp": now + 60,
        "jti": f"jti-{time.time_ns()}",
        **claims,
    }
    return jwt.encode({"alg": alg, "kid": key.kid, **(headers or {})}, body, key, algorithms=[alg])


async def _with_assertion(client, assertion: str) -> httpx.Response:
    return await client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )


async def test_7_private_key_jwt_works(client, jwt_partner, partner_key) -> None:
    response = await _with_assertion(client, _assertion(partner_key))
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "partner:read"


@pytest.mark.filterwarnings("ignore::joserfc.errors.SecurityWarning")  # joserfc's own warning on small RSA keys
async def test_7_a_weak_key_registered_before_the_rule_verifies_nothing(client, app, db, jwt_partner) -> None:
    """Registration refuses RSA keys under 2048 bits (auth.schemas.client_key_problem); a client registered before
    with one holds it still, and its assertions are not taken."""
    weak = RSAKey.generate_key(1024)
    weak.ensure_kid()
    public = {**weak.as_dict(private=False), "kid": weak.kid, "alg": "RS256", "use": "sig"}
    async with db.transaction() as session:
        await session.execute(
            update(OAuthClient).where(OAuthClient.client_id == jwt_partner).values(jwks={"keys": [public]})
        )
    app.state.identity.forget_cached_state()  # written behind the API's back: no change notice
    response = await _with_assertion(client, _assertion(weak))
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
    assert response.json()["error_description"] == "Client assertion refused: no registered key fits the assertion."


async def test_7_private_key_jwt_replayed_jti_is_refused(client, jwt_partner, partner_key) -> None:
    assertion = _assertion(partner_key, jti="once")
    assert (await _with_assertion(client, assertion)).status_code == 200
    replay = await _with_assertion(client, assertion)
    assert (replay.status_code, replay.json()["error"]) == (401, "invalid_client")


async def test_7_private_key_jwt_audience_is_the_issuer_alone(client, jwt_partner, partner_key) -> None:
    """draft-ietf-oauth-rfc7523bis / FAPI 2.0: the issuer identifier as the sole audience; the token endpoint URL,
    which an audience-injection attack gets a client to sign for another server, is not one."""
    for audience in ([ISSUER], ISSUER):
        response = await _with_assertion(client, _assertion(partner_key, aud=audience))
        assert response.status_code == 200, response.text
    for audience in (
        f"{ISSUER}/oauth2/token",
        [f"{ISSUER}/oauth2/token"],
        [ISSUER, "https://elsewhere.example"],  # made for another server too
        [ISSUER, f"{ISSUER}/oauth2/token"],
        [],
        f"{ISSUER}/",
    ):
        response = await _with_assertion(client, _assertion(partner_key, aud=audience))
        assert (response.status_code, response.json()["error"]) == (401, "invalid_client"), audience
        assert "audience" in response.json()["error_description"]


async def test_7_private_key_jwt_issued_in_the_future_is_refused(client, jwt_partner, partner_key) -> None:
    now = int(time.time())
    for iat in (now + 120, "now"):
        response = await _with_assertion(client, _assertion(partner_key, iat=iat, exp=now + 180))
        assert (response.status_code, response.json()["error"]) == (401, "invalid_client"), iat
        assert "issued in the future" in response.json()["error_description"]
    # Within the clock skew tolerated, it is taken.
    assert (await _with_assertion(client, _assertion(partner_key, iat=now + 20))).status_code == 200


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "https://elsewhere.example/token"},
        {"exp": int(time.time()) - 10},
        {"iss": "someone-else"},
        {"exp": int(time.time()) + 3600},
    ],
)
async def test_7_private_key_jwt_bad_claims_are_refused(client, jwt_partner, partner_key, claims) -> None:
    response = await _with_assertion(client, _assertion(partner_key, **claims))
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


async def test_7_private_key_jwt_alg_none_is_refused(client, jwt_partner, partner_key) -> None:
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": partner_key.kid}).encode()).rstrip(b"=")
    claims = {
        "iss": "jwt-partner",
        "sub": "jwt-partner",
        "aud": ISSUER,
        "exp": int(time.time()) + 60,
        "jti": "none-alg",
    }
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    response = await _with_assertion(client, f"{header.decode()}.{payload.decode()}.")
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


async def test_7_private_key_jwt_hs256_with_the_public_key_is_refused(client, jwt_partner, partner_key) -> None:
    claims = {
        "iss": "jwt-partner",
        "sub": "jwt-partner",
        "aud": ISSUER,
        "exp": int(time.time()) + 60,
        "jti": "confused",
    }
    forged = _hs256_forgery({"alg": "HS256", "kid": partner_key.kid}, claims, partner_key.as_pem(private=False))
    response = await _with_assertion(client, forged)
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


# 8. Refresh rotation -------------------------------------------------------------------------------------------------


async def _refresh(client, token: str, **extra) -> httpx.Response:
    return await client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": token, **extra},
        auth=("officer-console", "officer-console-secret"),
    )


async def test_8_rotation_and_reuse_revokes_the_family(client) -> None:
    tokens = await sign_in(client, "officer.market", "openid permits:process")
    rotated = await _refresh(client, tokens["refresh_token"])
    assert rotated.status_code == 200
    new = rotated.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    reused = await _refresh(client, tokens["refresh_token"])
    assert reused.json()["error"] == "invalid_grant"
    # The whole family is gone: the new refresh token and the access tokens of the family.
    assert (await _refresh(client, new["refresh_token"])).json()["error"] == "invalid_grant"
    await _eventually(lambda: _refused(client, new["access_token"]))


async def test_8_wider_scope_is_invalid_scope(client) -> None:
    tokens = await sign_in(client, "officer.market", "openid")
    response = await _refresh(client, tokens["refresh_token"], scope="openid permits:process")
    assert response.json()["error"] == "invalid_scope"
    # A narrower scope is fine, and the refresh token was not burnt by the refused request.
    narrower = await _refresh(client, tokens["refresh_token"], scope="openid")
    assert narrower.status_code == 200


async def test_8_another_clients_refresh_token_is_invalid_grant(client) -> None:
    tokens = await sign_in(client, "13800000001", "openid", app=WEB)
    response = await _refresh(client, tokens["refresh_token"])
    assert response.json()["error"] == "invalid_grant"


async def test_8_absolute_lifetime_is_enforced(client, db) -> None:
    tokens = await sign_in(client, "officer.market", "openid")
    async with db.write_engine.begin() as connection:
        await connection.execute(update(RefreshToken.__table__).values(family_expires_at=utcnow()))
    assert (await _refresh(client, tokens["refresh_token"])).json()["error"] == "invalid_grant"


async def test_8_two_concurrent_uses_exactly_one_wins(client) -> None:
    tokens = await sign_in(client, "officer.market", "openid")
    responses = await asyncio.gather(*(_refresh(client, tokens["refresh_token"]) for _ in range(2)))
    assert sorted(r.status_code for r in responses) == [200, 400]
    # The loser looked like a replay, so reuse detection revoked the family the winner continued.
    winner = next(r for r in responses if r.status_code == 200).json()
    assert (await _refresh(client, winner["refresh_token"])).json()["error"] == "invalid_grant"


# 9. Revocation (RFC 7009) --------------------------------------------------------------------------------------------


async def _introspect(client, token: str, auth=("officer-console", "officer-console-secret")) -> dict:
    response = await client.post("/oauth2/introspect", data={"token": token}, auth=auth)
    assert response.status_code == 200, response.text
    return response.json()


async def test_9_revoking_a_refresh_token_kills_its_access_tokens(client) -> None:
    tokens = await sign_in(client, "officer.market", "openid")
    assert (await _introspect(client, tokens["access_token"]))["active"] is True
    response = await client.post(
        "/oauth2/revoke", data={"token": tokens["refresh_token"]}, auth=("officer-console", "officer-console-secret")
    )
    assert response.status_code == 200
    assert (await _introspect(client, tokens["access_token"]))["active"] is False
    assert (await _introspect(client, tokens["refresh_token"]))["active"] is False


async def test_9_revoking_an_access_token(client) -> None:
    tokens = await sign_in(client, "officer.market", "openid")
    await client.post(
        "/oauth2/revoke",
        data={"token": tokens["access_token"], "token_type_hint": "access_token"},
        auth=("officer-console", "officer-console-secret"),
    )
    assert (await _introspect(client, tokens["access_token"]))["active"] is False
    await _eventually(lambda: _refused(client, tokens["access_token"]))


async def test_9_unknown_token_is_200(client) -> None:
    response = await client.post(
        "/oauth2/revoke", data={"token": "never-issued"}, auth=("officer-console", "officer-console-secret")
    )
    assert response.status_code == 200


async def test_9_a_wrong_token_type_hint_does_not_stop_the_revocation(client) -> None:
    # RFC 7009 2.1: a token not found under the hinted type is looked for under the other.
    tokens = await sign_in(client, "officer.market", "openid")
    response = await client.post(
        "/oauth2/revoke",
        data={"token": tokens["access_token"], "token_type_hint": "refresh_token"},
        auth=CONSOLE_AUTH,
    )
    assert (response.status_code, response.json()) == (200, {})
    assert (await _introspect(client, tokens["access_token"]))["active"] is False
    await _eventually(lambda: _refused(client, tokens["access_token"]))
    await client.post(
        "/oauth2/revoke",
        data={"token": tokens["refresh_token"], "token_type_hint": "access_token"},
        auth=CONSOLE_AUTH,
    )
    assert (await _introspect(client, tokens["refresh_token"]))["active"] is False


@pytest.mark.parametrize("path", ["/oauth2/revoke", "/oauth2/introspect"])
async def test_9_an_unknown_token_type_hint_is_400_unsupported_token_type(client, path) -> None:
    # RFC 7009 2.2.1 and RFC 6749 5.2: an error in the request (400), not a failed client authentication (401).
    response = await client.post(path, data={"token": "whatever", "token_type_hint": "foo"}, auth=CONSOLE_AUTH)
    assert response.status_code == 400
    assert response.json() == {"error": "unsupported_token_type"}
    assert "www-authenticate" not in response.headers


# 10. Introspection (RFC 7662) ----------------------------------------------------------------------------------------


async def test_10_introspection_needs_client_authentication(client) -> None:
    tokens = await sign_in(client, "officer.market", "openid")
    anonymous = await client.post("/oauth2/introspect", data={"token": tokens["access_token"]})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "invalid_client"
    described = await _introspect(client, tokens["access_token"])
    assert described["active"] is True
    assert described["client_id"] == "officer-console"
    assert described["scope"] == "openid"


async def test_10_expired_and_foreign_tokens_are_inactive(client, app) -> None:
    key = app.state.identity.keyring.signing_key("access")
    now = int(time.time())
    expired = jwt.encode(
        {"alg": "ES256", "kid": key.kid, "typ": "at+jwt"},
        {
            "iss": app.state.settings.issuer,
            "aud": app.state.settings.api_audience,
            "sub": "x",
            "client_id": "officer-console",
            "iat": now - 900,
            "exp": now - 600,
            "jti": "old",
        },
        key.key,
        algorithms=["ES256"],
    )
    assert (await _introspect(client, expired)) == {"active": False}
    # A partner may not look into a person's token issued to another client.
    tokens = await sign_in(client, "officer.market", "openid")
    assert (await _introspect(client, tokens["access_token"], auth=("demo-partner", "demo-partner-secret"))) == {
        "active": False
    }


async def test_10_a_wrong_token_type_hint_still_finds_the_token(client) -> None:
    # RFC 7662 2.1: the server extends its search past the hinted type.
    tokens = await sign_in(client, "officer.market", "openid")
    for token, hint in ((tokens["access_token"], "refresh_token"), (tokens["refresh_token"], "access_token")):
        response = await client.post(
            "/oauth2/introspect", data={"token": token, "token_type_hint": hint}, auth=CONSOLE_AUTH
        )
        described = response.json()
        assert described["active"] is True, hint
        assert described["client_id"] == "officer-console"
        assert described["scope"] == "openid"


# 11. no-store ----------------------------------------------------------------------------------------------------


async def test_11_token_responses_are_not_stored(client) -> None:
    success = await client.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, auth=("demo-partner", "demo-partner-secret")
    )
    failure = await client.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, auth=("demo-partner", "nope")
    )
    for response in (success, failure):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["pragma"] == "no-cache"


# 12. The resource server -------------------------------------------------------------------------------------------


def _claims(app, **overrides) -> dict:
    now = int(time.time())
    return {
        "iss": app.state.settings.issuer,
        "aud": app.state.settings.api_audience,
        "sub": "x",
        "client_id": "demo-partner",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": f"j{time.time_ns()}",
        "scope": "partner:read",
        **overrides,
    }


def _signed(app, claims: dict, *, typ: str = "at+jwt") -> str:
    key = app.state.identity.keyring.signing_key("access")
    return jwt.encode({"alg": "ES256", "kid": key.kid, "typ": typ}, claims, key.key, algorithms=["ES256"])


async def _me_with(client, token: str) -> dict:
    response = await client.get("/api/v1/audit/events", headers=bearer(token))
    body = assert_problem(response, 401, "invalid-token")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    return body


async def test_12_alg_none_is_invalid_token(client, app) -> None:
    await app.state.identity.ready()
    key = app.state.identity.keyring.signing_key("access")
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "at+jwt", "kid": key.kid}).encode())
    payload = base64.urlsafe_b64encode(json.dumps(_claims(app)).encode())
    await _me_with(client, f"{header.rstrip(b'=').decode()}.{payload.rstrip(b'=').decode()}.")


async def test_12_alg_confusion_is_invalid_token(client, app) -> None:
    await app.state.identity.ready()
    key = app.state.identity.keyring.signing_key("access")
    forged = _hs256_forgery(
        {"alg": "HS256", "kid": key.kid, "typ": "at+jwt"}, _claims(app), key.key.as_pem(private=False)
    )
    await _me_with(client, forged)


async def test_12_unknown_kid_and_bad_signature_are_invalid_token(client, app) -> None:
    await app.state.identity.ready()
    stranger = ECKey.generate_key("P-256")
    await _me_with(
        client,
        jwt.encode({"alg": "ES256", "kid": "not-ours", "typ": "at+jwt"}, _claims(app), stranger, algorithms=["ES256"]),
    )
    key = app.state.identity.keyring.signing_key("access")
    await _me_with(
        client,
        jwt.encode({"alg": "ES256", "kid": key.kid, "typ": "at+jwt"}, _claims(app), stranger, algorithms=["ES256"]),
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "https://someone-else.example/api"},
        {"iss": "https://impostor.example"},
        {"exp": int(time.time()) - 120},
        {"nbf": int(time.time()) + 600},
    ],
)
async def test_12_wrong_claims_are_invalid_token(client, app, overrides) -> None:
    await app.state.identity.ready()
    await _me_with(client, _signed(app, _claims(app, **overrides)))


async def test_12_an_id_token_is_not_an_access_token(client, app) -> None:
    await app.state.identity.ready()
    await _me_with(client, _signed(app, _claims(app), typ="JWT"))
    tokens = await sign_in(client, "auditor", "openid audit:read")
    await _me_with(client, tokens["id_token"])
    # The access token from the same response works.
    assert (await client.get("/api/v1/audit/events", headers=bearer(tokens["access_token"]))).status_code == 200


async def test_12_missing_scope_is_403_insufficient_scope(client, app) -> None:
    await app.state.identity.ready()
    response = await client.get("/api/v1/audit/events", headers=bearer(_signed(app, _claims(app))))
    assert_problem(response, 403, "insufficient-scope")
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert 'scope="audit:read"' in response.headers["www-authenticate"]


# 13. Metadata --------------------------------------------------------------------------------------------------------


async def test_13_metadata_and_jwks(client, settings) -> None:
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        metadata = (await client.get(path)).json()
        assert metadata["issuer"] == settings.issuer
        assert metadata["code_challenge_methods_supported"] == ["S256"]
        assert metadata["response_types_supported"] == ["code"]
        assert metadata["authorization_response_iss_parameter_supported"] is True
    keys = (await client.get("/oauth2/jwks")).json()["keys"]
    assert {key["alg"] for key in keys} >= {"ES256", "RS256"}
    private_members = {"d", "p", "q", "dp", "dq", "qi", "k"}
    assert all(not private_members & set(key) for key in keys)
    assert all(key["kid"] and key["use"] == "sig" for key in keys)


# 14. OpenID Connect --------------------------------------------------------------------------------------------------


async def test_14_id_token_audience_nonce_and_auth_time(client, app) -> None:
    code = await authorize(client, login="13800000001", scope="openid profile", nonce="n-0S6_WzA2Mj", **WEB)
    tokens = (await exchange(client, code, client_id=WEB["client_id"])).json()
    key = app.state.identity.keyring
    header = json.loads(base64.urlsafe_b64decode(tokens["id_token"].split(".")[0] + "=="))
    verification = key.verification_key(header["kid"], "id")
    claims = jwt.decode(tokens["id_token"], verification.key, algorithms=["RS256"]).claims
    assert claims["aud"] == "demo-web"
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert abs(claims["auth_time"] - time.time()) < 30
    assert claims["iss"] == app.state.settings.issuer
    assert "at_hash" in claims


async def test_14_a_nonce_longer_than_the_server_keeps_is_invalid_request(client) -> None:
    # Not a 500 when the code is stored (PostgreSQL refused the 300 characters), signed in or not.
    assert _error_of(await client.get(_authorize_url(nonce="n" * 300)))["error"] == "invalid_request"
    await authorize(client, login="13800000001", scope="openid", nonce="n" * 255, **WEB)
    refused = _error_of(await client.get(_authorize_url(nonce="n" * 256)))
    assert (refused["error"], refused["state"]) == ("invalid_request", "s-123")


@pytest.mark.parametrize(
    ("parameter", "error"),
    [
        ("request", "request_not_supported"),
        ("request_uri", "request_uri_not_supported"),
        ("registration", "registration_not_supported"),
    ],
)
async def test_14_request_objects_are_refused_not_ignored(client, parameter: str, error: str) -> None:
    # OIDC Core 6.1, 6.2, 7.2.1: ignored, the signed request's own parameters (another nonce, scope or redirect) were
    # silently replaced by the query's, and the client believed them honoured.
    await authorize(client, login="13800000001", scope="openid profile", **WEB)
    refused = _error_of(await client.get(_authorize_url(**{parameter: "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"})))
    assert (refused["error"], refused["state"]) == (error, "s-123")


async def test_14_max_age_forces_a_fresh_sign_in(client) -> None:
    await authorize(client, login="13800000001", scope="openid", **WEB)
    # Signed in: without max_age the next request skips the login page...
    again = await client.get(_authorize_url(scope="openid"))
    assert again.status_code == 302
    await asyncio.sleep(1.1)
    # ...but a session older than max_age must sign in again.
    page = await client.get(_authorize_url(scope="openid", max_age="1"))
    assert page.status_code == 200
    assert 'name="password"' in page.text


async def test_14_prompt_none_without_session_is_login_required(client) -> None:
    error = _error_of(await client.get(_authorize_url(prompt="none")))
    assert error["error"] == "login_required"
    assert error["state"] == "s-123"


def _return_to(page: httpx.Response) -> str:
    return re.search(r'name="return_to" value="([^"]*)"', page.text).group(1).replace("&amp;", "&")


async def _sign_in_on(client, page: httpx.Response) -> httpx.Response:
    """Sign in on this login page; returns where its return address leads."""
    assert page.status_code == 200
    assert 'name="password"' in page.text
    signed_in = await client.post(
        "/oauth2/login",
        data={
            "identifier": "13800000001",
            "password": "TalentIsland-2026!",
            "csrf_token": csrf_of(page),
            "return_to": _return_to(page),
        },
    )
    assert signed_in.status_code == 303, signed_in.text[:300]
    return await client.get(signed_in.headers["location"])


async def test_14_prompt_login_shows_the_login_page_even_when_signed_in(client) -> None:
    await authorize(client, login="13800000001", scope="openid", **WEB)
    page = await client.get(_authorize_url(scope="openid", prompt="login"))
    # Coming back after signing in must not loop: the return address has prompt=login satisfied.
    assert "prompt=login" not in _return_to(page)
    back = await _sign_in_on(client, page)
    assert back.status_code == 302
    assert back.headers["location"].startswith(WEB["redirect_uri"] + "?code=")


async def test_14_max_age_zero_asks_for_one_fresh_sign_in_then_gives_the_code(client) -> None:
    # OIDC Core 3.1.2.1: max_age=0 is prompt=login; after that one sign-in the code comes, not the login page again.
    await authorize(client, login="13800000001", scope="openid", **WEB)
    back = await _sign_in_on(client, await client.get(_authorize_url(scope="openid", max_age="0")))
    assert back.status_code == 302, back.text[:300]
    assert back.headers["location"].startswith(WEB["redirect_uri"] + "?code=")
    assert parse_qs(urlsplit(back.headers["location"]).query)["state"] == ["s-123"]


async def test_14_userinfo_by_get_and_post(client) -> None:
    tokens = await sign_in(client, "13800000001", "openid profile phone", app=WEB)
    for method in ("GET", "POST"):
        response = await client.request(method, "/oauth2/userinfo", headers=bearer(tokens["access_token"]))
        assert response.status_code == 200
        assert response.json()["phone_number"] == "13800000001"
        assert response.json()["name"] == "陈明 Chen Ming"
    assert (await client.get("/oauth2/userinfo")).status_code == 401


async def test_14_userinfo_releases_the_claims_of_the_scopes_granted(app, client) -> None:
    """OpenID Connect Core 5.4: `profile` releases the name, locale and updated_at, `phone` the phone number; `openid`
    alone, who the person is (`sub`) and nothing more. The consent page says as much."""
    claims = {}
    for scopes in ("openid", "openid profile", "openid phone", "openid profile phone", "openid talent:apply account"):
        token = await token_for(app, "13800000001", scopes, client_id="demo-web")
        response = await client.get("/oauth2/userinfo", headers=bearer(token))
        assert response.status_code == 200, response.text
        claims[scopes] = response.json()
    sub = claims["openid"]["sub"]
    assert claims["openid"] == claims["openid talent:apply account"] == {"sub": sub}
    assert set(claims["openid profile"]) == {"sub", "name", "locale", "updated_at"}
    assert (claims["openid profile"]["name"], claims["openid profile"]["locale"]) == ("陈明 Chen Ming", "zh-CN")
    assert set(claims["openid phone"]) == {"sub", "phone_number", "phone_number_verified"}
    assert claims["openid phone"]["phone_number"] == "13800000001"
    assert claims["openid profile phone"] == claims["openid profile"] | claims["openid phone"]
    refused = await client.get("/oauth2/userinfo", headers=bearer(await token_for(app, "13800000001", "profile")))
    assert_problem(refused, 403, "insufficient-scope")


# 15. Consent -----------------------------------------------------------------------------------------------------


async def test_15_granted_scopes_are_within_the_clients_allowed_scopes(client) -> None:
    # demo-web may not ask for audit:read; the request is narrowed to what the client is allowed.
    tokens = await sign_in(client, "13800000001", "openid audit:read permits:apply", app=WEB)
    assert set(tokens["scope"].split()) == {"openid", "permits:apply"}


async def test_15_a_scope_taken_from_the_client_is_not_granted_again_on_refresh(client, admin_headers) -> None:
    tokens = await sign_in(client, "13800000001", "openid phone permits:apply", app=WEB)
    narrowed = await client.patch(
        "/api/v1/admin/clients/demo-web",
        json={"scopes": ["openid", "profile", "permits:apply", "talent:apply"]},
        headers={**admin_headers, "If-Match": '"1"'},
    )
    assert narrowed.status_code == 200, narrowed.text
    refreshed = await client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "demo-web"},
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["scope"] == "openid permits:apply"
    userinfo = await client.get("/oauth2/userinfo", headers=bearer(refreshed.json()["access_token"]))
    assert "phone_number" not in userinfo.json()


async def test_15_a_person_only_gets_scopes_their_roles_allow(client) -> None:
    tokens = await sign_in(client, "13800000001", "openid permits:process audit:read")
    assert tokens["scope"] == "openid"


async def test_15_consent_page_names_the_client_and_scopes_and_denial_is_access_denied(client) -> None:
    url = _authorize_url(scope="openid permits:apply")
    login_page = await client.get(url)
    form = {
        "identifier": "13800000002",
        "password": "TalentIsland-2026!",
        "csrf_token": csrf_of(login_page),
        "return_to": url,
    }
    signed_in = await client.post("/oauth2/login", data=form)
    consent = await client.get(signed_in.headers["location"], headers={"Accept-Language": "en"})
    assert "Talent Island web app (demo)" in consent.text
    assert "Apply for permits and manage your applications" in consent.text
    denied = await client.post(url, data={"decision": "deny", "csrf_token": csrf_of(consent)})
    error = _error_of(denied)
    assert error["error"] == "access_denied"
    assert error["state"] == "s-123"


async def test_15_consent_without_a_valid_csrf_token_is_asked_again(client) -> None:
    url = _authorize_url(scope="openid")
    page = await client.get(url)
    await client.post(
        "/oauth2/login",
        data={
            "identifier": "13800000001",
            "password": "TalentIsland-2026!",
            "csrf_token": csrf_of(page),
            "return_to": url,
        },
    )
    forged = await client.post(url, data={"decision": "allow", "csrf_token": "forged"})
    assert forged.status_code == 200
    assert 'name="decision"' in forged.text
