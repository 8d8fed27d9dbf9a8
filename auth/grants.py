"""The grants, tightened past Authlib's defaults (RFC 9700 / OAuth 2.1):

- PKCE with S256 for every client, public or confidential (Authlib requires it only for public clients and defaults
  to `plain`);
- a code is used exactly once, atomically; a second exchange revokes every token the first one produced;
- refresh tokens rotate on every use; presenting a used one revokes its whole family;
- client authentication adds `private_key_jwt` (RFC 7523) with replay protection on the assertion's `jti`, addressed
  to the issuer identifier alone (draft-ietf-oauth-rfc7523bis, FAPI 2.0).
"""

import base64
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidGrantError, InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc7636 import CodeChallenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from auth import repository
from auth.schemas import client_key_problem
from auth.tokens import LEEWAY, TokenError, unverified_header
from core.crypto import secret_digest
from core.models import new_id, utcnow

if TYPE_CHECKING:
    from auth.server import AuthorizationServer

AUTH_METHODS_CONFIDENTIAL = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = {"RS256": "RSA", "PS256": "RSA", "ES256": "EC", "EdDSA": "OKP"}
MAX_ASSERTION_LIFETIME = 300


class S256CodeChallenge(CodeChallenge):
    """PKCE is mandatory for every client, and only S256 is accepted."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)


@dataclass(frozen=True)
class IssuedCode:
    """A claimed authorization code, in the shape Authlib and its PKCE extension read."""

    row: Any

    def get_redirect_uri(self) -> str | None:
        return self.row["redirect_uri"] or None

    def get_scope(self) -> str:
        return self.row["scope"]

    @property
    def code_challenge(self) -> str:
        return self.row["code_challenge"]

    @property
    def code_challenge_method(self) -> str:
        return self.row["code_challenge_method"]


@dataclass(frozen=True)
class StoredRefreshToken:
    row: Any

    def check_client(self, client: Any) -> bool:
        return self.row["client_id"] == client.get_client_id()

    def get_scope(self) -> str:
        return self.row["scope"]


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [*AUTH_METHODS_CONFIDENTIAL, "none"]
    server: "AuthorizationServer"

    def save_authorization_code(self, code: str, request: Any) -> None:
        login = self.server.ctx.login
        repository.save_code_sync(
            self.server.ctx.session,
            {
                "code_hash": secret_digest(code),
                "client_id": request.client.get_client_id(),
                "account_id": request.user["id"],
                "session_id": login.session_id if login else None,
                # As sent: the token request must then repeat exactly this (or omit it if it was omitted).
                "redirect_uri": request.payload.redirect_uri or "",
                "scope": request.scope,
                "nonce": request.payload.data.get("nonce"),
                "code_challenge": request.payload.data["code_challenge"],
                "code_challenge_method": request.payload.data.get("code_challenge_method", "S256"),
                "auth_time": login.auth_time if login else utcnow(),
                "expires_at": utcnow() + timedelta(seconds=self.server.ctx.settings.authorization_code_ttl),
            },
        )

    def query_authorization_code(self, code: str, client: Any) -> IssuedCode | None:
        session = self.server.ctx.session
        code_hash = secret_digest(code)
        claimed = repository.claim_code_sync(
            session, code_hash=code_hash, client_id=client.get_client_id(), family_id=new_id()
        )
        if claimed is not None:
            return IssuedCode(claimed)
        existing = repository.code_sync(session, code_hash)
        if existing is not None and existing["used_at"] is not None and existing["client_id"] == client.get_client_id():
            # RFC 6749 4.1.2: a code used twice means it leaked; everything issued from it must stop working.
            self.server.revoke_family(existing["family_id"], reason="authorization code replayed")
        return None

    def delete_authorization_code(self, authorization_code: Any) -> None:
        """Kept (marked used) rather than deleted: a replay must be recognised as one."""

    def authenticate_user(self, authorization_code: IssuedCode) -> Any | None:
        account = repository.account_sync(self.server.ctx.session, authorization_code.row["account_id"])
        return account if account is not None and account["status"] != "disabled" else None

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        code: IssuedCode = self.request.authorization_code
        session_id = code.row["session_id"]
        if session_id is not None and repository.session_ended_sync(self.server.ctx.session, session_id):
            # Signed out between the code and its exchange: the sign-out revoked what the session had started, and
            # must stop what it had not started yet (a 30-day refresh family for a session the user ended).
            raise InvalidGrantError("The sign-in this code came from has ended.")
        account = self.authenticate_user(code)
        if account is None:
            raise InvalidGrantError("The account is not active.")
        token = self.server.issue_for_person(
            account=account,
            client=self.request.client,
            scope=code.row["scope"],
            refresh_scope=code.row["scope"],
            auth_time=code.row["auth_time"],
            session_id=code.row["session_id"],
            family_id=code.row["family_id"],
            family_expires_at=None,
            nonce=code.row["nonce"],
            grant=self.GRANT_TYPE,
        )
        return 200, token, self.TOKEN_RESPONSE_HEADER


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [*AUTH_METHODS_CONFIDENTIAL, "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: "AuthorizationServer"

    def authenticate_refresh_token(self, refresh_token: str) -> StoredRefreshToken | None:
        row = repository.refresh_sync(self.server.ctx.session, secret_digest(refresh_token))
        if row is None or row["revoked_at"] is not None:
            return None
        now = utcnow()
        if row["expires_at"] <= now or row["family_expires_at"] <= now:
            return None
        if row["rotated_at"] is not None:
            self.server.revoke_family(row["family_id"], reason="refresh token reused")
            return None
        return StoredRefreshToken(row)

    def authenticate_user(self, refresh_token: StoredRefreshToken) -> Any | None:
        account = repository.account_sync(self.server.ctx.session, refresh_token.row["account_id"])
        return account if account is not None and account["status"] != "disabled" else None

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        stored: StoredRefreshToken = self.request.refresh_token
        row = stored.row
        # Rotation is the atomic step: of two concurrent uses exactly one rotates, the other is a reuse.
        if not repository.rotate_refresh_sync(self.server.ctx.session, row["token_hash"]):
            self.server.revoke_family(row["family_id"], reason="refresh token reused")
            raise InvalidGrantError("The refresh token was already used; its sign-in has been revoked.")
        account = self.authenticate_user(stored)
        if account is None:
            raise InvalidGrantError("The account is not active.")
        token = self.server.issue_for_person(
            account=account,
            client=self.request.client,
            scope=self.request.payload.scope or row["scope"],
            refresh_scope=row["scope"],
            auth_time=row["auth_time"],
            session_id=row["session_id"],
            family_id=row["family_id"],
            family_expires_at=row["family_expires_at"],
            nonce=None,
            grant=self.GRANT_TYPE,
        )
        return 200, token, self.TOKEN_RESPONSE_HEADER


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS_CONFIDENTIAL
    server: "AuthorizationServer"

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        client = self.request.client
        scope = client.get_allowed_scope(self.request.payload.scope)
        if scope is None:
            raise InvalidScopeError("None of the requested scopes is allowed for this client.")
        return 200, self.server.issue_for_client(client=client, scope=scope), self.TOKEN_RESPONSE_HEADER


def private_key_jwt(server: "AuthorizationServer") -> Any:
    """RFC 7523 client authentication: a JWT signed with a key from the client's registered JWK set."""

    def authenticate(query_client: Any, request: Any) -> Any | None:
        if request.form.get("client_assertion_type") != ASSERTION_TYPE or not request.form.get("client_assertion"):
            return None
        assertion = request.form["client_assertion"]

        def refuse(reason: str) -> InvalidClientError:
            return InvalidClientError(status_code=401, description=f"Client assertion refused: {reason}.")

        try:
            header = unverified_header(assertion)
        except TokenError as exc:
            raise refuse("not a JWT") from exc
        alg = header.get("alg")
        if alg not in ASSERTION_ALGORITHMS:
            # Refuses "none" and every HMAC algorithm, so a public key can never be used as an HMAC secret.
            raise refuse(f"algorithm {alg!r} is not accepted")
        client_id = request.form.get("client_id") or _unverified_claim(assertion, "iss")
        client = query_client(client_id) if isinstance(client_id, str) else None
        if client is None or client.auth_method != "private_key_jwt" or not client.jwks:
            raise refuse("the client is unknown or does not use private_key_jwt")
        try:
            keys = KeySet.import_key_set(client.jwks)
            # A key registered before registration refused weak ones (auth.schemas.client_key_problem) verifies nothing.
            candidates = [
                k for k in keys.keys if k.key_type == ASSERTION_ALGORITHMS[alg] and client_key_problem(k) is None
            ]
            if header.get("kid"):
                candidates = [k for k in candidates if k.kid == header["kid"]]
            if not candidates:
                raise refuse("no registered key fits the assertion")
            claims = None
            for key in candidates:
                try:
                    claims = jwt.decode(assertion, key, algorithms=[alg]).claims
                    break
                except JoseError:
                    continue
            if claims is None:
                raise refuse("bad signature")
        except (JoseError, ValueError) as exc:
            raise refuse("bad signature") from exc
        now = time.time()
        if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
            raise refuse("iss and sub must be the client_id")
        if not _addressed_to(claims.get("aud"), server.ctx.settings.issuer):
            raise refuse("the audience must be the issuer identifier alone")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp <= now or exp - now > MAX_ASSERTION_LIFETIME + LEEWAY:
            raise refuse("expired or too long-lived")
        iat = claims.get("iat")
        if iat is not None and (not isinstance(iat, int | float) or iat > now + LEEWAY):
            # An assertion "issued" later than now, past any clock skew, was made to be used later (a client's clock
            # far off, or one pre-signed for someone to send when it is due): never one we take now.
            raise refuse("issued in the future")
        if isinstance(claims.get("nbf"), int | float) and claims["nbf"] > now + LEEWAY:
            raise refuse("not valid yet")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > 200:
            raise refuse("missing jti")
        expires = datetime.fromtimestamp(exp, UTC)
        if not repository.remember_assertion_sync(server.ctx.session, client.client_id, jti, expires):
            raise refuse("this assertion was already used")
        return client

    return authenticate


def _addressed_to(audience: Any, issuer: str) -> bool:
    """Whether an assertion's `aud` is our issuer identifier and nothing else (a string, or a list of just it).

    The token endpoint URL is not accepted, though RFC 7523 3 and OIDC Core 9 suggested it: an endpoint URL is what
    the audience-injection attack makes a client sign for another server (a malicious authorization server names our
    token endpoint as one of its own endpoints, and the client's assertion for it works here), while the issuer
    identifier is bound to the server's metadata (RFC 8414 3.3), so a client never signs ours for anyone else.
    draft-ietf-oauth-rfc7523bis (2025) makes the issuer the sole audience value and forbids the token endpoint URL;
    the FAPI 2.0 Security Profile (final, 2025) has the server accept only its issuer; so does Singpass. Every
    private_key_jwt client is registered by an administrator, who tells its integrators what to sign: no installed
    base to stay compatible with. A list with any other value is refused: a value beside ours means the assertion
    was made for another server too."""
    audiences = audience if isinstance(audience, list) else [audience]
    return bool(audiences) and all(value == issuer for value in audiences)


def _unverified_claim(token: str, name: str) -> Any:
    """Only to find which client's keys to verify with; nothing is trusted before the signature checks out."""
    try:
        segment = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))).get(name)
    except (IndexError, ValueError, UnicodeDecodeError, AttributeError):
        return None


def new_refresh_token() -> str:
    return secrets.token_urlsafe(48)
