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


SETTLE = 2.0


class FeedCache:
    """Values loaded from the database, kept `ttl` seconds per process. A change announced on the revocation feed
    under this cache's `kind` evicts the entry in every process within a second (immediately in the writer's)."""

    def __init__(self, kind: str, *, ttl: float = 30.0, size: int = 10_000) -> None:
        self.kind = kind
        self.ttl = ttl
        self.size = size
        self._entries: dict[str, tuple[float, float, Any]] = {}

    def get(self, key: str, *, changed_since: Any) -> tuple[bool, Any]:
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        loaded_monotonic, loaded_wall, value = entry
        # A change notice is stamped before its transaction commits: an entry loaded in that moment may hold the old
        # value, so it counts as stale too (at worst one extra read in the seconds after a change).
        if time.monotonic() - loaded_monotonic > self.ttl or changed_since(self.kind, key, loaded_wall - SETTLE):
            self._entries.pop(key, None)
            return False, None
        return True, value

    def put(self, key: str, value: Any) -> None:
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[key] = (time.monotonic(), time.time(), value)

    def evict(self, key: str) -> None:
        self._entries.pop(key, None)
