"""Registered OAuth clients as Authlib sees them (its ClientMixin), and a short-lived per-process cache of them."""

import hmac
import time
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list

from core.crypto import secret_digest


@dataclass(frozen=True)
class RegisteredClient(ClientMixin):
    client_id: str
    name_zh: str
    name_en: str
    kind: str
    secret_hash: str | None
    auth_method: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    grant_types: frozenset[str]
    scopes: frozenset[str]
    jwks: dict[str, Any] | None
    skip_consent: bool
    can_introspect: bool

    @classmethod
    def from_row(cls, row: Any) -> "RegisteredClient":
        return cls(
            client_id=row.client_id,
            name_zh=row.name_zh,
            name_en=row.name_en,
            kind=row.kind,
            secret_hash=row.secret_hash,
            auth_method=row.token_endpoint_auth_method,
            redirect_uris=tuple(row.redirect_uris or ()),
            post_logout_redirect_uris=tuple(row.post_logout_redirect_uris or ()),
            grant_types=frozenset(row.grant_types or ()),
            scopes=frozenset(row.scopes or ()),
            jwks=row.jwks,
            skip_consent=row.skip_consent,
            can_introspect=row.can_introspect,
        )

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_zh

    # -- Authlib's ClientMixin ------------------------------------------------------------------------------------

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Only an unambiguous default: with several registered URIs the request must name one (RFC 6749 3.1.2.3).
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        requested = set(scope_to_list(scope)) if scope else set(self.scopes)
        allowed = requested & self.scopes
        return list_to_scope(sorted(allowed)) if allowed else None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string comparison: no prefix, case-folding, normalization or wildcard.
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        if self.secret_hash is None:
            return False
        return hmac.compare_digest(secret_digest(client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


class ClientCache:
    """Client lookups for the token endpoint, kept `ttl` seconds; a change to a client (announced through the
    revocation feed as kind `client`) evicts it in every process within a second."""

    def __init__(self, *, ttl: float = 30.0) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, float, RegisteredClient | None]] = {}

    def get(self, client_id: str, *, changed_since: Any) -> tuple[bool, RegisteredClient | None]:
        entry = self._entries.get(client_id)
        if entry is None:
            return False, None
        loaded_monotonic, loaded_wall, client = entry
        if time.monotonic() - loaded_monotonic > self.ttl or changed_since(client_id, loaded_wall):
            self._entries.pop(client_id, None)
            return False, None
        return True, client

    def put(self, client_id: str, client: RegisteredClient | None) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[client_id] = (time.monotonic(), time.time(), client)

    def evict(self, client_id: str) -> None:
        self._entries.pop(client_id, None)
