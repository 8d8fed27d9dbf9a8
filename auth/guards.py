"""The resource-server guard: one dependency that verifies the bearer token locally and checks scope AND role.

No database query per request: the signature is checked against the in-memory key ring, verified tokens are cached
until they expire, and revocation is checked against the list each process reloads once a second. Object ownership is
the repositories' job (DESIGN 6): this guard answers "may this caller use this route at all".

Errors follow RFC 6750: 401 with `WWW-Authenticate: Bearer error="invalid_token"`, 403 `insufficient_scope` naming the
scope needed, both as problem+json.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.openapi.models import OAuthFlowAuthorizationCode, OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2

from auth.identity import Identity, client_address
from auth.scopes import SCOPES
from auth.tokens import TokenError
from core.context import Actor, bind_actor
from core.errors import Forbidden, Unauthorized
from core.ratelimit import enforce

REALM = "talent-island"

OAUTH2_FLOWS = OAuthFlows(
    authorizationCode=OAuthFlowAuthorizationCode(
        authorizationUrl="/oauth2/authorize",
        tokenUrl="/oauth2/token",
        refreshUrl="/oauth2/token",
        scopes={name: scope.en for name, scope in SCOPES.items() if not scope.client_only},
    ),
    clientCredentials=OAuthFlowClientCredentials(
        tokenUrl="/oauth2/token", scopes={name: scope.en for name, scope in SCOPES.items()}
    ),
)
OAUTH2_SCHEME = "oauth2"
OAUTH2_DESCRIPTION = "Authorization code with PKCE (S256) for people; client credentials for partner systems."

oauth2_scheme = OAuth2(flows=OAUTH2_FLOWS, scheme_name=OAUTH2_SCHEME, description=OAUTH2_DESCRIPTION, auto_error=False)


class InvalidToken(Unauthorized):
    code, title = "invalid-token", "The access token is not valid"


class InsufficientScope(Forbidden):
    code, title = "insufficient-scope", "The access token lacks a required scope"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a person (through a client app) or a partner system itself (client credentials)."""

    subject: str
    client_id: str
    scopes: frozenset[str]
    roles: frozenset[str]
    department: str | None
    token_id: str
    session_id: str | None

    @property
    def is_person(self) -> bool:
        return self.subject != self.client_id

    @property
    def account_id(self) -> uuid.UUID | None:
        return uuid.UUID(self.subject) if self.is_person else None

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> "Principal":
        return cls(
            subject=str(claims["sub"]),
            client_id=str(claims.get("client_id", "")),
            scopes=frozenset(str(claims.get("scope", "")).split()),
            roles=frozenset(claims.get("roles") or ()),
            department=claims.get("dept"),
            token_id=str(claims["jti"]),
            session_id=claims.get("sid"),
        )


def _challenge(error: str | None = None, description: str | None = None, scope: str | None = None) -> dict[str, str]:
    parts = [f'realm="{REALM}"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{description.replace(chr(34), chr(39))}"')
    if scope:
        parts.append(f'scope="{scope}"')
    return {"WWW-Authenticate": "Bearer " + ", ".join(parts)}


# Where the request keeps its caller once authenticated: a route guarded twice (its own guard and an Idempotency-Key
# owner's) verifies the token and counts against the rate limit once.
_AUTHENTICATED = "ti.principal"


async def authenticate(request: Request, authorization: str | None) -> Principal:
    known: Principal | None = request.scope.get(_AUTHENTICATED)
    if known is not None:
        return known
    identity: Identity = request.app.state.identity
    if not authorization:
        # RFC 6750 3.1: no error code when the request carried no credentials at all.
        raise Unauthorized("Send an access token: Authorization: Bearer <token>.", headers=_challenge())
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("Use the Bearer scheme.", headers=_challenge("invalid_request", "use the Bearer scheme"))
    await identity.ready()
    try:
        claims = await identity.verify_access_token(token.strip())
    except TokenError as error:
        raise InvalidToken(str(error), headers=_challenge("invalid_token", str(error))) from error
    if identity.revocations.is_revoked(claims):
        raise InvalidToken("The token was revoked.", headers=_challenge("invalid_token", "the token was revoked"))
    principal = Principal.from_claims(claims)
    bind_actor(
        Actor(
            subject=principal.subject if principal.is_person else None,
            client_id=principal.client_id,
            address=client_address(request),
        )
    )
    limit, window = identity.settings.api_requests_per_caller
    await enforce(
        identity.limiter,
        f"api:{principal.client_id}:{principal.subject}",
        limit=limit,
        window=window,
        what="requests from this client",
    )
    request.scope[_AUTHENTICATED] = principal
    return principal


class Guard(OAuth2):
    """The oauth2 scheme and the check of one kind of caller, as one dependency: FastAPI publishes it as the route's
    security requirement (with its scopes) and solves it in one step per request, where a check depending on the
    scheme took two (about 10 us on every protected request)."""

    # What the route may answer besides its own, published in the OpenAPI document (core.openapi): authenticate()
    # counts every caller's requests against a limit.
    problems = (429,)

    def __init__(
        self, *, scopes: Iterable[str], any_scope: Iterable[str], roles: Iterable[str], people: bool, clients: bool
    ) -> None:
        super().__init__(
            flows=OAUTH2_FLOWS, scheme_name=OAUTH2_SCHEME, description=OAUTH2_DESCRIPTION, auto_error=False
        )
        self.needed = sorted(scopes)
        self.one_of = frozenset(any_scope)
        # The ways through, for the OpenAPI document (core.openapi): each with every scope needed and, when the guard
        # takes one of several, one of those (OpenAPI's list of security requirements is an "or"). FastAPI alone
        # publishes the needed scopes only, and an any-scope route said it needed none.
        self.security_alternatives = (
            [sorted({*self.needed, scope}) for scope in sorted(self.one_of)] if self.one_of else [self.needed]
        )
        self.roles = frozenset(roles)
        self.people = people
        self.clients = clients

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        principal = await authenticate(request, request.headers.get("authorization"))
        missing = set(self.needed) - principal.scopes
        if missing:
            raise InsufficientScope(
                f"This needs the scope(s): {' '.join(sorted(missing))}.",
                headers=_challenge("insufficient_scope", scope=" ".join(self.needed)),
            )
        if self.one_of and not principal.scopes & self.one_of:
            raise InsufficientScope(
                f"This needs one of the scopes: {' '.join(sorted(self.one_of))}.",
                headers=_challenge("insufficient_scope", scope=" ".join(sorted(self.one_of))),
            )
        if self.people and not principal.is_person:
            raise Forbidden("Only a person signed in through an app may do this.")
        if self.clients and principal.is_person:
            raise Forbidden("Only a partner system (client credentials) may do this.")
        if self.roles and not principal.roles & self.roles:
            raise Forbidden(f"This needs one of the roles: {', '.join(sorted(self.roles))}.")
        return principal


def require(
    *,
    scopes: Iterable[str] = (),
    roles: Iterable[str] = (),
    any_scope: Iterable[str] = (),
    people_only: bool = False,
    clients_only: bool = False,
) -> Any:
    """The dependency (`Annotated[Principal, require(...)]`) yielding the Principal if its token has every scope in
    `scopes`, one of `any_scope` when given (an API shared by citizens, officers and partners) and, when `roles` is
    given, at least one of those roles."""
    guard = Guard(scopes=scopes, any_scope=any_scope, roles=roles, people=people_only, clients=clients_only)
    return Security(guard, scopes=guard.needed)


async def optional_principal(
    request: Request, authorization: Annotated[str | None, Security(oauth2_scheme)]
) -> Principal | None:
    """For public routes that show more to some callers: None without a token, the caller with a valid one, 401 with
    a bad one (a broken token is never silently treated as anonymous)."""
    if not authorization:
        return None
    return await authenticate(request, authorization)


async def public_caller(request: Request) -> None:
    """Anonymous reads of public routes are limited per address: public, not unlimited (a token's requests are
    limited per caller by `require()`)."""
    identity = request.app.state.identity
    limit, window = identity.settings.api_requests_per_caller
    await enforce(
        identity.limiter,
        f"api:addr:{client_address(request)}",
        limit=limit,
        window=window,
        what="requests from this address",
    )


# (as Guard.problems: limited, per caller or per address)
optional_principal.problems = (429,)  # type: ignore[attr-defined]
public_caller.problems = (429,)  # type: ignore[attr-defined]
PublicCaller = Depends(public_caller)

# The callers the API knows, as typed dependencies (DESIGN convention 6). `require()` is the dependency itself (an
# OAuth2 scheme that checks the caller), so an alias is `Annotated[Principal, require(...)]`, not `Depends(require())`.
Authenticated = Annotated[Principal, require()]
Person = Annotated[Principal, require(people_only=True)]
AccountOwner = Annotated[Principal, require(scopes={"account"}, people_only=True)]
# Reading the person's own account (GET /api/v1/me): its name and language are what `profile` promises, and `account`
# (the city's own apps) reaches all of it; what else a token is shown follows its scopes (auth.service.released).
ProfileReader = Annotated[Principal, require(any_scope={"profile", "account"}, people_only=True)]
Auditor = Annotated[Principal, require(scopes={"audit:read"}, roles={"auditor"})]
Admin = Annotated[Principal, require(scopes={"admin"}, roles={"admin"}, people_only=True)]
MaybeSignedIn = Annotated[Principal | None, Depends(optional_principal)]
