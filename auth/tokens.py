"""Issuing and verifying JWTs (RFC 9068 access tokens, OIDC ID tokens) and the revocation list every process keeps.

Verification is local (no database): the signature against the key ring, then `typ`, `alg`, `iss`, `aud`, `exp`, `nbf`.
Verified tokens are cached until they expire, so a client reusing its token costs one dictionary lookup; revocation is
checked on every request against the in-memory list, which is reloaded at most once a second.
"""

import base64
import hashlib
import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jwt
from joserfc.errors import JoseError
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from auth.keys import ALGORITHMS, KeyRing
from auth.models import TokenRevocation
from core.models import new_id, utcnow

ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
LEEWAY = 30  # seconds of clock skew tolerated on exp / nbf
# Revocation kinds that stop every token whose claims hold the value and that was issued at or before the revocation:
# a refresh family, a login session, everything of a subject, everything issued to a client (one entry when a client
# is disabled, where one per family of its users would grow the list every process reloads each second), and
# everything of a subject issued to one client (`subject_client`, when a person withdraws their consent to it). The
# last is one entry per withdrawal however many sign-ins the person made through the client, and it reaches the
# access tokens of families that have no refresh token row to find them by (a client without the refresh grant):
# revoking family by family would cost an entry per sign-in and miss those.
REVOKED_BY_CLAIMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("family", ("fid",)),
    ("session", ("sid",)),
    ("subject", ("sub",)),
    ("client_tokens", ("client_id",)),
    ("subject_client", ("sub", "client_id")),
)
_revocations = TokenRevocation.__table__


def revocation_value(claims: dict[str, Any], names: tuple[str, ...]) -> str | None:
    """The value a revocation of a REVOKED_BY_CLAIMS kind holds for a token with these claims; None if it lacks one.
    Joined by a space, which neither a subject (a UUID, or a client_id) nor a client_id holds."""
    values = [claims.get(name) for name in names]
    if any(value is None or value == "" for value in values):
        return None
    return " ".join(str(value) for value in values)


def subject_client(subject: str, client_id: str) -> str:
    """The value of a `subject_client` revocation: everything of `subject` issued to `client_id`."""
    return f"{subject} {client_id}"


class TokenError(Exception):
    """The token is not acceptable; the message says why (it goes into `error_description`)."""


class UnknownSigningKey(TokenError):
    """No key this process has loaded has the token's kid: it may be one another process has just made
    (`Identity.verify_access_token` reloads the keys and tries again)."""


def _b64url_json(segment: str) -> dict[str, Any]:
    value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    if not isinstance(value, dict):
        raise ValueError("not an object")
    return value


def unverified_header(token: str) -> dict[str, Any]:
    try:
        return _b64url_json(token.split(".", 1)[0])
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenError("the token is not a JWT") from exc


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_compact(header: dict[str, Any], claims: dict[str, Any], key: Any) -> str:
    """A JWS in compact serialization (RFC 7515) for ES256 or RS256, signed with `cryptography` directly.

    Signing is on the hot path of every token; joserfc's generic machinery cost more than the signature itself. Every
    token is verified with joserfc (here and in the tests), which checks this encoding independently.
    """
    signing_input = (
        f"{_b64url(json.dumps(header, separators=(',', ':')).encode())}."
        f"{_b64url(json.dumps(claims, separators=(',', ':')).encode())}"
    )
    if header["alg"] == "ES256":
        r, s = decode_dss_signature(key.private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")  # JWS wants r || s, not DER
    elif header["alg"] == "RS256":
        signature = key.private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    else:
        raise ValueError(f"we do not sign with {header['alg']}")
    return f"{signing_input}.{_b64url(signature)}"


def at_hash(access_token: str) -> str:
    """OIDC `at_hash`: the left half of the SHA-256 of the access token, base64url (RS256 / ES256 both use SHA-256)."""
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


@dataclass(frozen=True)
class TokenSettings:
    issuer: str
    audience: str
    access_ttl: int
    id_ttl: int


class Tokens:
    def __init__(self, settings: TokenSettings, keyring: KeyRing, *, cache_size: int = 20_000) -> None:
        self.settings = settings
        self.keyring = keyring
        self._verified: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    # -- issuing --------------------------------------------------------------------------------------------------

    def access_token(
        self,
        *,
        subject: str,
        client_id: str,
        scope: str,
        roles: Iterable[str] = (),
        department: str | None = None,
        auth_time: datetime | None = None,
        session_id: uuid.UUID | None = None,
        family_id: uuid.UUID | None = None,
    ) -> tuple[str, dict[str, Any]]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.settings.issuer,
            "sub": subject,
            "aud": self.settings.audience,
            "client_id": client_id,
            "iat": now,
            "nbf": now,
            "exp": now + self.settings.access_ttl,
            "jti": uuid.uuid4().hex,
            "scope": scope,
        }
        if roles:
            claims["roles"] = sorted(roles)
        if department:
            claims["dept"] = department
        if auth_time is not None:
            claims["auth_time"] = int(auth_time.timestamp())
        if session_id is not None:
            claims["sid"] = str(session_id)
        if family_id is not None:
            claims["fid"] = str(family_id)
        key = self.keyring.signing_key("access")
        return sign_compact({"alg": key.alg, "kid": key.kid, "typ": "at+jwt"}, claims, key.key), claims

    def id_token(
        self,
        *,
        subject: str,
        client_id: str,
        auth_time: datetime,
        nonce: str | None,
        session_id: uuid.UUID | None,
        access_token: str | None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.settings.issuer,
            "sub": subject,
            "aud": client_id,
            "azp": client_id,
            "iat": now,
            "exp": now + self.settings.id_ttl,
            "auth_time": int(auth_time.timestamp()),
            "amr": ["pwd"],
            **(extra or {}),
        }
        if nonce:
            claims["nonce"] = nonce
        if session_id is not None:
            claims["sid"] = str(session_id)
        if access_token:
            claims["at_hash"] = at_hash(access_token)
        key = self.keyring.signing_key("id")
        return sign_compact({"alg": key.alg, "kid": key.kid, "typ": "JWT"}, claims, key.key)

    # -- verifying ------------------------------------------------------------------------------------------------

    def verify_access_token(self, token: str) -> dict[str, Any]:
        """The claims of a valid access token; TokenError otherwise. Revocation is the caller's second check."""
        cached = self._verified.get(token)
        if cached is not None:
            if cached["exp"] + LEEWAY > time.time():
                return cached
            self._drop(token)
        header = unverified_header(token)
        if str(header.get("typ", "")).lower() not in ACCESS_TOKEN_TYPES:
            raise TokenError("not an access token (typ must be at+jwt)")
        claims = self._verify_signature(token, header, purpose="access")
        now = time.time()
        if claims.get("iss") != self.settings.issuer:
            raise TokenError("wrong issuer")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.settings.audience not in audiences:
            raise TokenError("wrong audience")
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] + LEEWAY <= now:
            raise TokenError("the token has expired")
        if isinstance(claims.get("nbf"), int | float) and claims["nbf"] - LEEWAY > now:
            raise TokenError("the token is not valid yet")
        if not isinstance(claims.get("iat"), int | float) or not claims.get("jti") or not claims.get("sub"):
            raise TokenError("the token lacks required claims")
        self._remember(token, claims)
        return claims

    def verify_id_token(self, token: str, *, allow_expired: bool = False) -> dict[str, Any]:
        """An ID token this server issued (logout's `id_token_hint` may be expired)."""
        claims = self._verify_signature(token, unverified_header(token), purpose="id")
        if claims.get("iss") != self.settings.issuer:
            raise TokenError("wrong issuer")
        if not allow_expired and claims.get("exp", 0) + LEEWAY <= time.time():
            raise TokenError("the token has expired")
        return claims

    def _verify_signature(self, token: str, header: dict[str, Any], *, purpose: str) -> dict[str, Any]:
        # Only the one algorithm we sign with is accepted: no "none", no HS256 keyed with a public key.
        expected = ALGORITHMS[purpose]
        if header.get("alg") != expected:
            raise TokenError(f"unexpected algorithm {header.get('alg')!r}")
        kid = header.get("kid")
        key = self.keyring.verification_key(kid, purpose) if isinstance(kid, str) else None
        if key is None:
            raise UnknownSigningKey("unknown signing key")
        try:
            return dict(jwt.decode(token, key.key, algorithms=[expected]).claims)
        except (JoseError, ValueError) as exc:
            raise TokenError("bad signature") from exc

    def forget_verified(self) -> None:
        with self._lock:
            self._verified.clear()

    def _remember(self, token: str, claims: dict[str, Any]) -> None:
        with self._lock:
            self._verified[token] = claims
            if len(self._verified) > self._cache_size:
                self._verified.popitem(last=False)

    def _drop(self, token: str) -> None:
        with self._lock:
            self._verified.pop(token, None)


class RevocationList:
    """What this process refuses, reloaded whole from `token_revocation` at most once per `refresh_seconds`.

    The same feed carries change notices (kinds `client` and `account`): caches of those drop an entry announced as
    changed after they loaded it, so every process sees a change within a second.

    The table only holds entries younger than the longest access-token lifetime, so a full reload stays small and
    cannot miss an entry that committed out of order.
    """

    def __init__(self, *, refresh_seconds: float = 1.0) -> None:
        self.refresh_seconds = refresh_seconds
        self._entries: dict[str, dict[str, float]] = {}
        self._loaded_at = 0.0
        self._refreshing = threading.Lock()

    def stale(self) -> bool:
        return time.monotonic() - self._loaded_at >= self.refresh_seconds

    def is_revoked(self, claims: dict[str, Any]) -> bool:
        entries = self._entries
        if not entries:
            return False
        if claims.get("jti") in entries.get("jti", ()):
            return True
        issued = claims.get("iat", 0)
        for kind, names in REVOKED_BY_CLAIMS:
            revoked = entries.get(kind)
            if not revoked:
                continue  # the usual case: no entry of this kind, nothing to compute
            revoked_at = revoked.get(revocation_value(claims, names))  # type: ignore[arg-type]
            if revoked_at is not None and issued <= revoked_at:
                return True
        return False

    def changed_since(self, kind: str, key: str, moment: float) -> bool:
        """Whether a `kind` entry (`client`, `account`) announced a change to `key` at or after `moment`."""
        changed = self._entries.get(kind, {}).get(key)
        return changed is not None and changed >= moment

    def _apply(self, rows: Iterable[Any]) -> None:
        entries: dict[str, dict[str, float]] = {}
        for row in rows:
            entries.setdefault(row.kind, {})[row.value] = row.revoked_at.timestamp()
        self._entries = entries
        self._loaded_at = time.monotonic()

    async def refresh(self, session: AsyncSession) -> None:
        if not self._refreshing.acquire(blocking=False):
            return  # another request is reloading; the current list is at most a second old
        try:
            self._apply((await session.execute(_live_query())).all())
        finally:
            self._refreshing.release()


def _live_query() -> Any:
    return select(_revocations.c.kind, _revocations.c.value, _revocations.c.revoked_at).where(
        _revocations.c.expires_at > utcnow()
    )


def revocation(dialect: str, kind: str, value: str, *, lifetime: int) -> Any:
    """The statement adding (or renewing) a revocation entry; it must outlive the tokens it stops."""
    now = utcnow()
    expires = now + timedelta(seconds=lifetime + LEEWAY)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(_revocations).values(id=new_id(), kind=kind, value=value, revoked_at=now, expires_at=expires)
    return stmt.on_conflict_do_update(index_elements=["kind", "value"], set_={"revoked_at": now, "expires_at": expires})
