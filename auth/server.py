"""The Authlib authorization server, built per request around that request's sync session (Authlib is synchronous;
its endpoints run in the threadpool, see auth/endpoints.py)."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationServer as AuthlibServer
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error, UnsupportedTokenTypeError
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from sqlalchemy import and_, func, or_, select
from sqlalchemy.util import await_only
from sqlmodel import Session

from auth import repository
from auth.clients import RegisteredClient
from auth.grants import (
    AUTH_METHODS_CONFIDENTIAL,
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
    S256CodeChallenge,
    new_refresh_token,
    private_key_jwt,
)
from auth.identity import Identity
from auth.models import TokenRevocation
from auth.scopes import SCOPES, scopes_for_person
from auth.tokens import REVOKED_BY_CLAIMS, TokenError, revocation, revocation_value
from core import audit
from core.context import Actor
from core.crypto import secret_digest
from core.models import utcnow
from core.settings import Settings

_revocations = TokenRevocation.__table__
INTROSPECTED_CLAIMS = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti")


@dataclass(frozen=True)
class LoginContext:
    account_id: uuid.UUID
    session_id: uuid.UUID
    auth_time: datetime


@dataclass
class ServerContext:
    session: Session
    identity: Identity
    settings: Settings
    address: str | None = None
    login: LoginContext | None = None


class SlowDown(OAuth2Error):
    """The client has used up its budget of requests (auth/endpoints.py answers an address's the same way)."""

    error = "slow_down"
    description = "too many requests; retry later"
    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), ("Retry-After", str(self.retry_after))]


class UnsupportedTokenType(UnsupportedTokenTypeError):
    # Authlib makes it a ForbiddenError, 401 as if client authentication had failed; RFC 7009 2.2.1 answers it with
    # an RFC 6749 5.2 error response, which is a 400.
    status_code = 400


class AuthorizationServer(AuthlibServer):
    def __init__(self, ctx: ServerContext) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.ctx = ctx
        self.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
        self.register_grant(RefreshTokenGrant)
        self.register_grant(ClientCredentialsGrant)
        self.register_endpoint(Revocation(self))
        self.register_endpoint(Introspection(self))
        self.register_client_auth_method("private_key_jwt", private_key_jwt(self))

    # -- Authlib's hooks ------------------------------------------------------------------------------------------

    def authenticate_client(self, request: Any, methods: list[str], endpoint: str = "token") -> RegisteredClient:
        """Authlib's, at every endpoint a client authenticates to, refusing a request that uses two methods, and
        spending the budget of requests of the confidential client it authenticated: only then, or anyone could use
        up a client's budget by naming it (a request that fails to authenticate counts against its address only). A
        public client authenticates by being named, so it has no budget of its own: its callers' addresses do."""
        _refuse_two_authentication_methods(request)
        client = super().authenticate_client(request, methods, endpoint)
        self._spend_request_budget(client)
        return client

    def _spend_request_budget(self, client: RegisteredClient) -> None:
        if client.auth_method == "none":
            return  # anyone can name a public client: a budget of its own would let anyone lock its users out
        limit, window = self.ctx.settings.token_requests_per_client
        # Authlib runs inside the session's run_sync, in SQLAlchemy's greenlet on the event loop (see _with_server in
        # auth/endpoints.py): the async limiter is awaited the way the session awaits its database driver.
        decision = await_only(
            self.ctx.identity.limiter.hit(f"token:client:{client.client_id}", limit=limit, window=window)
        )
        if not decision.allowed:
            raise SlowDown(decision.retry_after)

    def query_client(self, client_id: str) -> RegisteredClient | None:
        if "\x00" in client_id:  # from Basic auth or a client assertion; no client has one, and PostgreSQL cannot
            return None  # look one up
        identity = self.ctx.identity
        hit, cached = identity.clients.get(client_id, changed_since=identity.revocations.changed_since)
        if hit:
            return cached
        row = repository.active_client_sync(self.ctx.session, client_id)
        client = RegisteredClient.from_row(row) if row is not None else None
        identity.clients.put(client_id, client)
        return client

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        """The grants persist what they issue themselves (see issue_for_person)."""

    def create_oauth2_request(self, request: Any) -> Any:
        return request  # already adapted, see auth/requests.py

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> tuple[int, Any, list]:
        return status, body, headers

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    # -- issuing --------------------------------------------------------------------------------------------------

    def _actor(self, subject: str | None, client_id: str) -> Actor:
        return Actor(subject=subject, client_id=client_id, address=self.ctx.address)

    def issue_for_person(
        self,
        *,
        account: Any,
        client: RegisteredClient,
        scope: str,
        refresh_scope: str,
        auth_time: datetime,
        session_id: uuid.UUID | None,
        family_id: uuid.UUID,
        family_expires_at: datetime | None,
        nonce: str | None,
        grant: str,
    ) -> dict[str, Any]:
        session, settings, tokens = self.ctx.session, self.ctx.settings, self.ctx.identity.tokens
        roles = repository.roles_sync(session, account["id"])
        # Roles may have changed since consent, and the client's scopes since the grant (an administrator narrowed
        # them): a token only ever carries what the person may hold and the client may ask for now.
        scope = " ".join(sorted(scopes_for_person(set(scope.split()) & client.scopes, roles)))
        subject = str(account["id"])
        access, _ = tokens.access_token(
            subject=subject,
            client_id=client.client_id,
            scope=scope,
            roles=roles,
            department=account["department"],
            auth_time=auth_time,
            session_id=session_id,
            family_id=family_id,
        )
        result: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": settings.access_token_ttl,
            "scope": scope,
        }
        if "refresh_token" in client.grant_types:
            now = utcnow()
            family_ends = family_expires_at or now + timedelta(seconds=settings.refresh_token_absolute_ttl)
            refresh = new_refresh_token()
            repository.save_refresh_sync(
                session,
                {
                    "token_hash": secret_digest(refresh),
                    "family_id": family_id,
                    "client_id": client.client_id,
                    "account_id": account["id"],
                    "session_id": session_id,
                    "scope": refresh_scope,
                    "auth_time": auth_time,
                    "issued_at": now,
                    "expires_at": min(now + timedelta(seconds=settings.refresh_token_idle_ttl), family_ends),
                    "family_expires_at": family_ends,
                },
            )
            result["refresh_token"] = refresh
        if "openid" in scope.split():
            result["id_token"] = tokens.id_token(
                subject=subject,
                client_id=client.client_id,
                auth_time=auth_time,
                nonce=nonce,
                session_id=session_id,
                access_token=access,
            )
        audit.record(
            session,
            action="auth.token.issued",
            object_type="oauth_client",
            object_id=client.client_id,
            detail={"grant": grant, "scope": scope, "family": str(family_id)},
            actor=self._actor(subject, client.client_id),
        )
        return result

    def issue_for_client(self, *, client: RegisteredClient, scope: str) -> dict[str, Any]:
        access, _ = self.ctx.identity.tokens.access_token(
            subject=client.client_id, client_id=client.client_id, scope=scope
        )
        audit.record(
            self.ctx.session,
            action="auth.token.issued",
            object_type="oauth_client",
            object_id=client.client_id,
            detail={"grant": "client_credentials", "scope": scope},
            actor=self._actor(None, client.client_id),
        )
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.ctx.settings.access_token_ttl,
            "scope": scope,
        }

    # -- revoking -------------------------------------------------------------------------------------------------

    def revoke(self, kind: str, value: str) -> None:
        dialect = self.ctx.session.get_bind().dialect.name
        self.ctx.session.execute(revocation(dialect, kind, value, lifetime=self.ctx.settings.access_token_ttl))

    def revoke_family(self, family_id: uuid.UUID | None, *, reason: str) -> None:
        if family_id is None:
            return
        repository.revoke_family_sync(self.ctx.session, family_id)
        self.revoke("family", str(family_id))
        audit.record(
            self.ctx.session,
            action="auth.token.family_revoked",
            object_type="token_family",
            object_id=family_id,
            outcome="denied",
            detail={"reason": reason},
        )

    def is_revoked(self, claims: dict[str, Any]) -> bool:
        """Authoritative check against the table (introspection must not be a second stale)."""
        issued = datetime.fromtimestamp(claims.get("iat", 0), UTC)
        matches = [and_(_revocations.c.kind == "jti", _revocations.c.value == claims.get("jti"))]
        for kind, names in REVOKED_BY_CLAIMS:
            value = revocation_value(claims, names)
            if value is not None:
                matches.append(
                    and_(
                        _revocations.c.kind == kind,
                        _revocations.c.value == value,
                        _revocations.c.revoked_at >= issued,
                    )
                )
        stmt = select(func.count()).select_from(_revocations).where(_revocations.c.expires_at > utcnow(), or_(*matches))
        return bool(self.ctx.session.execute(stmt).scalar())


def _refuse_two_authentication_methods(request: Any) -> None:
    """RFC 6749 2.3: a client uses one authentication method per request (5.2: invalid_request if more)."""
    basic_id, _ = extract_basic_authorization(request.headers)
    form = request.form
    used = [basic_id is not None, bool(form.get("client_secret")), bool(form.get("client_assertion"))]
    if sum(used) > 1:
        raise InvalidRequestError("Use one client authentication method per request.")
    if basic_id is not None and form.get("client_id") and form["client_id"] != basic_id:
        # Two clients named in one request. Authlib answers its like (a request object's client_id against the
        # request's, RP-initiated logout's client_id against the ID token's aud) with invalid_request: the request
        # contradicts itself, which is not a client failing to authenticate (invalid_client).
        raise InvalidRequestError("The client_id in the body is not the client of the Authorization header.")


class _AccessToken:
    def __init__(self, claims: dict[str, Any], server: AuthorizationServer) -> None:
        self.claims, self.server = claims, server

    def check_client(self, client: Any) -> bool:
        return self.claims.get("client_id") == client.get_client_id()

    def is_expired(self) -> bool:
        return False  # an expired JWT never gets this far: it does not verify

    def is_revoked(self) -> bool:
        return self.server.is_revoked(self.claims)


class _RefreshToken:
    def __init__(self, row: Any) -> None:
        self.row = row

    def check_client(self, client: Any) -> bool:
        return self.row["client_id"] == client.get_client_id()

    def is_expired(self) -> bool:
        now = utcnow()
        return self.row["expires_at"] <= now or self.row["family_expires_at"] <= now

    def is_revoked(self) -> bool:
        return self.row["revoked_at"] is not None or self.row["rotated_at"] is not None


def _access_token(server: AuthorizationServer, token_string: str) -> _AccessToken | None:
    if token_string.count(".") != 2:
        return None  # not a JWT, so not one of our access tokens
    try:
        return _AccessToken(server.ctx.identity.tokens.verify_access_token(token_string), server)
    except TokenError:
        return None


def _refresh_token(server: AuthorizationServer, token_string: str) -> _RefreshToken | None:
    row = repository.refresh_sync(server.ctx.session, secret_digest(token_string))
    return _RefreshToken(row) if row is not None else None


def _find_token(
    server: AuthorizationServer, token_string: str, hint: str | None
) -> _AccessToken | _RefreshToken | None:
    """The hinted type first, then the other: the hint is only a hint, and a wrong one must not hide the token
    (RFC 7009 2.1, RFC 7662 2.1)."""
    lookups = (_refresh_token, _access_token) if hint == "refresh_token" else (_access_token, _refresh_token)
    for lookup in lookups:
        if (token := lookup(server, token_string)) is not None:
            return token
    return None


class _TokenLookup:
    """What revocation and introspection share: how a token is found, and which hints they take."""

    server: AuthorizationServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return _find_token(self.server, token_string, token_type_hint)

    def check_params(self, request: Any, client: Any) -> None:
        try:
            super().check_params(request, client)
        except UnsupportedTokenTypeError:
            raise UnsupportedTokenType() from None


class Revocation(_TokenLookup, RevocationEndpoint):
    """RFC 7009. Revoking a refresh token revokes its family, access tokens included; unknown tokens answer 200."""

    CLIENT_AUTH_METHODS = [*AUTH_METHODS_CONFIDENTIAL, "none"]

    def revoke_token(self, token: Any, request: Any) -> None:
        if isinstance(token, _AccessToken):
            self.server.revoke("jti", token.claims["jti"])
            audit.record(
                self.server.ctx.session,
                action="auth.token.revoked",
                object_type="access_token",
                object_id=token.claims["jti"],
                actor=self.server._actor(token.claims.get("sub"), token.claims.get("client_id", "")),
            )
        else:
            self.server.revoke_family(token.row["family_id"], reason="revoked by the client")


class Introspection(_TokenLookup, IntrospectionEndpoint):
    """RFC 7662, for authenticated confidential clients: their own tokens, or any token for resource servers."""

    CLIENT_AUTH_METHODS = AUTH_METHODS_CONFIDENTIAL

    def check_permission(self, token: Any, client: Any, request: Any) -> bool:
        return bool(client.can_introspect) or token.check_client(client)

    def introspect_token(self, token: Any) -> dict[str, Any]:
        if isinstance(token, _AccessToken):
            claims = token.claims
            return {
                "active": True,
                "token_type": "Bearer",
                **{
                    k: claims[k]
                    for k in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti")
                    if k in claims
                },
            }
        row = token.row
        return {
            "active": True,
            "token_type": "refresh_token",
            "scope": row["scope"],
            "client_id": row["client_id"],
            "sub": str(row["account_id"]),
            "iat": int(row["issued_at"].timestamp()),
            "exp": int(min(row["expires_at"], row["family_expires_at"]).timestamp()),
        }


def build(ctx: ServerContext) -> AuthorizationServer:
    return AuthorizationServer(ctx)
