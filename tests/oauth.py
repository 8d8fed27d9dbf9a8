"""Getting tokens in tests: the full authorization code + PKCE flow over HTTP (login and consent forms included), or
a token minted with the server's own key for a demo identity (for tests about resource servers, not about OAuth)."""

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from auth.identity import Identity
from auth.models import Account, AccountRole
from auth.seed import DEMO_PASSWORD

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

WEB = {"client_id": "demo-web", "redirect_uri": "http://127.0.0.1:8765/callback"}
CONSOLE = {
    "client_id": "officer-console",
    "redirect_uri": "http://127.0.0.1:8766/callback",
    "secret": "officer-console-secret",
}


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def csrf_of(page: httpx.Response) -> str:
    match = _CSRF.search(page.text)
    assert match, page.text[:500]
    return match.group(1)


@dataclass
class Authorization:
    code: str
    state: str
    iss: str
    verifier: str
    redirect_uri: str


async def authorize(
    http: httpx.AsyncClient,
    *,
    login: str,
    client_id: str,
    redirect_uri: str,
    scope: str,
    password: str = DEMO_PASSWORD,
    nonce: str | None = None,
    extra: dict[str, str] | None = None,
) -> Authorization:
    """Sign in and consent through the real pages; returns the code the client receives at its redirect URI."""
    verifier, challenge = pkce()
    state = secrets.token_urlsafe(8)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **({"nonce": nonce} if nonce else {}),
        **(extra or {}),
    }
    url = f"/oauth2/authorize?{urlencode(params)}"
    page = await http.get(url)
    if page.status_code == 200 and 'name="password"' in page.text:
        form = {
            "identifier": login,
            "password": password,
            "csrf_token": csrf_of(page),
            "return_to": re.search(r'name="return_to" value="([^"]*)"', page.text).group(1).replace("&amp;", "&"),
        }
        signed_in = await http.post("/oauth2/login", data=form)
        assert signed_in.status_code == 303, signed_in.text[:500]
        page = await http.get(signed_in.headers["location"])
    if page.status_code == 200 and 'name="decision"' in page.text:
        page = await http.post(url, data={"decision": "allow", "csrf_token": csrf_of(page)})
    assert page.status_code == 302, page.text[:500]
    location = page.headers["location"]
    assert location.startswith(redirect_uri), location
    query = parse_qs(urlsplit(location).query)
    assert "code" in query, location
    return Authorization(query["code"][0], query["state"][0], query["iss"][0], verifier, redirect_uri)


async def exchange(
    http: httpx.AsyncClient, authorization: Authorization, *, client_id: str, secret: str | None = None
) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": authorization.code,
        "redirect_uri": authorization.redirect_uri,
        "code_verifier": authorization.verifier,
    }
    if secret:
        return await http.post("/oauth2/token", data=data, auth=(client_id, secret))
    return await http.post("/oauth2/token", data={**data, "client_id": client_id})


async def sign_in(
    http: httpx.AsyncClient, login: str, scope: str, app: dict[str, str] = CONSOLE, password: str = DEMO_PASSWORD
) -> dict:
    """The whole flow, returning the token response."""
    code = await authorize(
        http, login=login, client_id=app["client_id"], redirect_uri=app["redirect_uri"], scope=scope, password=password
    )
    response = await exchange(http, code, client_id=app["client_id"], secret=app.get("secret"))
    assert response.status_code == 200, response.text
    return response.json()


async def token_for(
    app: FastAPI, login: str, scopes: str, *, client_id: str = "officer-console", identity: Identity | None = None
) -> str:
    """A real access token (signed with the server's key, or `identity`'s: another process's) for a demo person,
    without the browser dance."""
    identity = identity or app.state.identity
    await identity.ready()
    async with app.state.db.transaction(write=False) as session:
        phone_hash = identity.cipher.lookup_hash(login, context="phone") if login.isdigit() else None
        condition = Account.phone_hash == phone_hash if phone_hash else Account.username == login
        account = (await session.execute(select(Account).where(condition))).scalar_one()
        roles = set(
            (await session.execute(select(AccountRole.role).where(AccountRole.account_id == account.id))).scalars()
        )
    token, _ = identity.tokens.access_token(
        subject=str(account.id), client_id=client_id, scope=scopes, roles=roles, department=account.department
    )
    return token


async def client_token(app: FastAPI, client_id: str, scopes: str) -> str:
    identity: Identity = app.state.identity
    await identity.ready()
    token, _ = identity.tokens.access_token(subject=client_id, client_id=client_id, scope=scopes)
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
