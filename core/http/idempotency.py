"""`Idempotency-Key` for POST routes: a retry replays the first response instead of doing the work twice.

The key is claimed and the response stored in the request's own transaction, so the stored response exists if and
only if the work committed. A concurrent request with the same key waits for the first to finish and then gets its
stored response (PostgreSQL waits at most `LOCK_WAIT`, then answers 409); the same key with another body is a 422.
Only successful responses are stored: a request that failed changed nothing and may be retried with the same key.
Keys are per caller and expire after 24 hours. A stored response is encrypted (AES-GCM, the data key): it may hold
what the database otherwise keeps only hashed or encrypted (a new client's secret, a phone number).
"""

import base64
import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from core.audit.models import JsonType
from core.crypto import FieldCipher
from core.db import SessionDep, insert_ignoring_conflicts
from core.errors import Conflict, PreconditionRequired, ValidationFailed, field_error
from core.models import utcnow

TTL = timedelta(hours=24)
LOCK_WAIT = "5s"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII: UUIDs, ULIDs, random tokens
# A replay is the first answer, in its language too (Accept-Language is not in the request's fingerprint; ?lang is).
_REPLAYED_HEADERS = ("content-type", "location", "etag", "content-language", "vary")


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_key"

    owner: str = Field(primary_key=True, max_length=200)
    key: str = Field(primary_key=True, max_length=255)
    method: str = Field(max_length=10)
    path: str = Field(max_length=500)
    fingerprint: str = Field(max_length=64)
    status_code: int | None = None
    headers: dict[str, Any] | None = Field(default=None, sa_type=JsonType)
    body: bytes | None = None
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)


_table = IdempotencyRecord.__table__


class IdempotentReplay(Exception):
    """Raised by the dependency when the stored response answers the request; the route class returns it."""

    def __init__(self, response: Response) -> None:
        self.response = response


class IdempotencyClaim:
    """The caller's key, claimed in the request's transaction; `finish` stores the response in the same one."""

    def __init__(self, session: AsyncSession, cipher: FieldCipher, owner: str, key: str) -> None:
        self.session, self.cipher, self.owner, self.key = session, cipher, owner, key

    async def finish(self, response: Response) -> None:
        where = (_table.c.owner == self.owner) & (_table.c.key == self.key)
        body = getattr(response, "body", None)
        if not 200 <= response.status_code < 300 or body is None:
            await self.session.execute(delete(_table).where(where))
            return
        headers = {name: response.headers[name] for name in _REPLAYED_HEADERS if name in response.headers}
        sealed = _seal(self.cipher, bytes(body), self.owner, self.key)
        await self.session.execute(
            update(_table).where(where).values(status_code=response.status_code, headers=headers, body=sealed)
        )


def _seal(cipher: FieldCipher, body: bytes, owner: str, key: str) -> bytes:
    # Bound to its owner and key: a stored answer cannot be moved to another caller's row.
    return cipher.encrypt(base64.b64encode(body).decode(), context=f"idempotency:{owner}:{key}").encode()


def _unseal(cipher: FieldCipher, stored: bytes, owner: str, key: str) -> bytes:
    if stored[:1] in (b"{", b"["):
        return stored  # stored in the clear before answers were encrypted (gone within a day of the upgrade)
    return base64.b64decode(cipher.decrypt(stored.decode(), context=f"idempotency:{owner}:{key}"))


async def _fingerprint(request: Request) -> str:
    body = await request.body()
    try:
        # Semantically equal JSON (key order, whitespace) is the same request.
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode() if body else b""
    except ValueError:
        canonical = body
    target = f"{request.method} {request.url.path}?{request.url.query}".encode()
    return hashlib.sha256(target + b"\n" + canonical).hexdigest()


def _replay_or_refuse(row: Any, fingerprint: str, cipher: FieldCipher) -> None:
    if row["fingerprint"] != fingerprint:
        raise ValidationFailed(
            "This Idempotency-Key was used for a different request; use a new key for a new request.",
            errors=[
                field_error("Idempotency-Key", "already used with another body", code="key_reused", location="header")
            ],
        )
    if row["status_code"] is None:
        raise Conflict("A request with this Idempotency-Key is still in progress.", headers={"Retry-After": "1"})
    body = _unseal(cipher, row["body"], row["owner"], row["key"])
    response = Response(content=body, status_code=row["status_code"], headers=row["headers"] or {})
    response.headers["Idempotent-Replayed"] = "true"
    raise IdempotentReplay(response)


async def claim_key(
    session: AsyncSession,
    *,
    cipher: FieldCipher,
    owner: str,
    key: str,
    method: str,
    path: str,
    fingerprint: str,
) -> None:
    """Claim (owner, key) in this transaction, or raise: replay of the stored response, 422 reuse, 409 in progress."""
    # Insert first: a new key (nearly every request) is then claimed without first looking for it.
    if await _insert_claim(session, owner=owner, key=key, method=method, path=path, fingerprint=fingerprint):
        return
    where = (_table.c.owner == owner) & (_table.c.key == key)
    row = (await session.execute(select(_table).where(where))).mappings().one()
    if row["expires_at"] <= utcnow():
        await session.execute(delete(_table).where(where))
        if await _insert_claim(session, owner=owner, key=key, method=method, path=path, fingerprint=fingerprint):
            return
        # Someone else claimed the expired key again while we waited.
        row = (await session.execute(select(_table).where(where))).mappings().one()
    _replay_or_refuse(row, fingerprint, cipher)


async def _insert_claim(
    session: AsyncSession, *, owner: str, key: str, method: str, path: str, fingerprint: str
) -> bool:
    """Insert the key's row unless it exists; False if it does (committed, or committed while we waited)."""
    now = utcnow()
    dialect = session.bind.dialect.name
    stmt = (
        insert_ignoring_conflicts(dialect, _table)
        .values(
            owner=owner,
            key=key,
            method=method,
            path=path[:500],
            fingerprint=fingerprint,
            created_at=now,
            expires_at=now + TTL,
        )
        .on_conflict_do_nothing()
        .returning(_table.c.key)
    )
    try:
        if dialect == "postgresql":
            # A concurrent holder of the key makes this insert wait for its outcome; do not wait forever.
            await session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
        claimed = (await session.execute(stmt)).first()
        if dialect == "postgresql":
            await session.execute(text("SET LOCAL lock_timeout = 0"))
    except DBAPIError as exc:
        if "lock timeout" in str(exc.orig).lower() or "LockNotAvailable" in type(exc.orig).__name__:
            raise Conflict("A request with this Idempotency-Key is in progress.", headers={"Retry-After": "1"}) from exc
        raise
    return claimed is not None


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        # Documented, and checked by the dependency, which says what is wrong in words rather than as a regex.
        json_schema_extra={"pattern": _KEY.pattern},
        description="A unique key per logical request (e.g. a UUID). A retry with the same key and body returns the "
        "first response (with `Idempotent-Replayed: true`) instead of repeating the work. Keys expire after 24 h.",
    ),
]


def idempotency(owner: Callable[..., Any], *, required: bool = False) -> Callable[..., Any]:
    """A dependency claiming the request's Idempotency-Key for the caller that `owner` (a dependency) names."""

    async def dependency(
        request: Request,
        session: SessionDep,
        owner_key: Annotated[str, Depends(owner)],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> IdempotencyClaim | None:
        from core.http.routing import ApiRoute

        if not isinstance(request.scope.get("route"), ApiRoute):
            raise RuntimeError("routes taking an Idempotency-Key must use route_class=ApiRoute")
        if idempotency_key is None:
            if required:
                raise PreconditionRequired("This request needs an Idempotency-Key header.")
            return None
        if not _KEY.match(idempotency_key):
            raise ValidationFailed(
                "The Idempotency-Key must be 1-255 visible ASCII characters.",
                errors=[field_error("Idempotency-Key", "invalid characters", location="header")],
            )
        cipher = request.app.state.identity.cipher  # the data key every encrypted field uses
        await claim_key(
            session,
            cipher=cipher,
            owner=owner_key,
            key=idempotency_key,
            method=request.method,
            path=request.url.path,
            fingerprint=await _fingerprint(request),
        )
        claim = IdempotencyClaim(session, cipher, owner_key, idempotency_key)
        request.state.idempotency = claim
        return claim

    return dependency


__all__ = ["IdempotencyClaim", "IdempotencyRecord", "IdempotentReplay", "idempotency"]
