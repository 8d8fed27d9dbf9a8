"""The identity machinery of one process: keys, token service, revocation list, rate limiter, client cache, ciphers.

Built once per app (`app.state.identity`); everything here is either immutable or refreshed from the database, so N
processes behave as one.
"""

import asyncio
import hashlib
import hmac
import secrets
from typing import Annotated, Any

from fastapi import Depends, Request

from auth.clients import FeedCache
from auth.keys import KeyRing
from auth.policy import HashingGate
from auth.tokens import RevocationList, TokenError, Tokens, TokenSettings, UnknownSigningKey, unverified_header
from core.crypto import FieldCipher
from core.db import Database
from core.ratelimit import RateLimiter, create_rate_limiter
from core.settings import Settings


class Identity:
    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database
        self.cipher = FieldCipher.from_file(settings.data_key_file, create=not settings.is_production)
        self.keyring = KeyRing(
            self.cipher,
            rotation_days=settings.signing_key_rotation_days,
            token_lifetime=max(settings.access_token_ttl, settings.id_token_ttl),
        )
        self.tokens = Tokens(
            TokenSettings(
                issuer=settings.issuer,
                audience=settings.api_audience,
                access_ttl=settings.access_token_ttl,
                id_ttl=settings.id_token_ttl,
            ),
            self.keyring,
        )
        self.revocations = RevocationList()
        self.limiter: RateLimiter = create_rate_limiter(settings.redis_url)
        self.passwords = HashingGate(settings.password_hash_slots)
        self.clients = FeedCache("client")
        # The signed-in person's own account view (GET /api/v1/me), evicted when the account changes.
        self.accounts = FeedCache("account")
        self._reload = asyncio.Lock()
        self._reload_loop: asyncio.AbstractEventLoop | None = None
        # Derived, not stored: the CSRF key is a function of the data key file.
        self._csrf_key = hmac.new(self.cipher.lookup_hash("csrf").encode(), b"csrf", hashlib.sha256).digest()

    # -- keeping in step with the database ------------------------------------------------------------------------

    async def ready(self) -> None:
        """Reload keys (every minute, or after an unknown kid) and the revocation list (every second) if stale."""
        if not (self.keyring.stale() or self.revocations.stale()):
            return
        # One reload at a time: the requests that arrive while it runs wait for it and then find everything fresh.
        # Without this every request in flight when the list turned a second old started a reload of its own, each
        # holding a pooled connection, every second.
        async with self._reload_lock():
            if self.keyring.stale():
                async with self.database.transaction() as session:
                    connection = await session.connection()
                    await connection.run_sync(self.keyring.load)
            if self.revocations.stale():
                async with self.database.transaction(write=False) as session:
                    await self.revocations.refresh(session)

    async def verify_access_token(self, token: str) -> dict[str, Any]:
        """The claims of a valid access token (TokenError if not). A kid this process has not loaded yet is probably
        a key another process has just made (at first start, or on rotation): the keys are reloaded once and the
        token checked again, rather than answering 401 to a good token. Revocation is the caller's second check."""
        try:
            return self.tokens.verify_access_token(token)
        except UnknownSigningKey:
            if not await self.reload_for_unknown_kid():
                raise
        return self.tokens.verify_access_token(token)

    async def keys_current_for(self, token: str, purpose: str) -> None:
        """Have the key ring hold the key `token` names, where there is one: for the checks that cannot reload and
        retry themselves (introspection runs inside Authlib; a credential's verification reads the register in a
        transaction of its own). Opens a transaction of its own: call it before the request's."""
        await self.ready()
        try:
            kid = unverified_header(token).get("kid")
        except TokenError:
            return  # not a JWS: nothing to load for it
        if isinstance(kid, str) and self.keyring.verification_key(kid, purpose) is None:
            await self.reload_for_unknown_kid()

    async def reload_for_unknown_kid(self) -> bool:
        """Reload the keys for a kid not among them (at most every few seconds); whether they were reloaded."""
        if not self.keyring.forget_for_unknown_kid():
            return False
        await self.ready()
        return True

    def _reload_lock(self) -> asyncio.Lock:
        # One per event loop (tests drive one app from more than one loop; an asyncio lock belongs to one).
        loop = asyncio.get_running_loop()
        if self._reload_loop is not loop:
            self._reload, self._reload_loop = asyncio.Lock(), loop
        return self._reload

    def forget_cached_state(self) -> None:
        """Drop everything cached from the database: after it was restored (from a backup, or by a test)."""
        self.clients = FeedCache("client")
        self.accounts = FeedCache("account")
        self.revocations = RevocationList(refresh_seconds=self.revocations.refresh_seconds)
        self.tokens.forget_verified()
        self.keyring.forget()
        if not self.settings.redis_url:
            self.limiter = create_rate_limiter(None)

    # -- CSRF (double submit: a random cookie and a form field that is its HMAC) -----------------------------------

    def new_csrf_cookie(self) -> str:
        return secrets.token_urlsafe(32)

    def csrf_token(self, cookie: str) -> str:
        return hmac.new(self._csrf_key, cookie.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, cookie: str | None, token: str | None) -> bool:
        return bool(cookie and token) and hmac.compare_digest(self.csrf_token(cookie or ""), token or "")

    async def close(self) -> None:
        close = getattr(self.limiter, "close", None)
        if close:
            await close()


async def get_identity(request: Request) -> Identity:
    """async: FastAPI runs a sync dependency in the threadpool, a needless thread hop per request."""
    return request.app.state.identity


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


__all__ = ["Identity", "client_address", "get_identity"]


IdentityDep = Annotated[Identity, Depends(get_identity)]
