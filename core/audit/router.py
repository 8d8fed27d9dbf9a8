"""The auditor's API: browse the trail, verify the chain, export the signed checkpoints."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, params
from pydantic import BaseModel, Field

from core.audit import repository
from core.audit.chain import POLICY_KEY, AuditPolicy, chain_pending, checkpoint_message, verify
from core.audit.signing import public_jwk
from core.db import DatabaseDep, SessionDep
from core.errors import problems
from core.pagination import Cursor, Instant, Limit, Page


def build_router(auditor: params.Depends) -> APIRouter:
    """The auditor API, guarded by `auditor` (the identity layer's scope + role check; core cannot import it)."""
    guarded = APIRouter(prefix="/api/v1/audit", tags=["audit"], dependencies=[auditor], responses=problems(401, 403))
    guarded.include_router(router)
    return guarded


router = APIRouter()


class AuditEventRead(BaseModel):
    seq: int
    occurred_at: datetime
    subject: str | None
    client_id: str | None
    address: str | None
    request_id: str | None
    action: str
    object_type: str | None
    object_id: str | None
    outcome: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


class UnsealedSpanRead(BaseModel):
    from_seq: int
    to_seq: int
    oldest_at: datetime = Field(description="when the oldest of these entries was written")
    signed_at: datetime | None = Field(description="when a checkpoint first signed them; null: none has yet")


class VerifyRead(BaseModel):
    ok: bool
    checked: int = Field(description="entries walked")
    head_seq: int
    checkpoints_checked: int
    pending: int = Field(description="committed entries not chained yet (the sequencer chains them within a second)")
    broken_at: int | None = Field(description="sequence number of the first broken link")
    reason: str | None
    last_good_checkpoint: int | None = Field(description="the last checkpoint the chain still matched")
    unsealed: list[UnsealedSpanRead] = Field(
        description="entries that went unsigned by any checkpoint for longer than the checkpoint policy allows: no "
        "worker signed them in time, or their checkpoints were removed and the chain rewritten before the next one "
        "(keep exported checkpoints to tell which)"
    )


class CheckpointRead(BaseModel):
    seq: int
    hash: str
    created_at: datetime
    key_id: str
    signature: str = Field(description="Ed25519 over `message`, base64url")
    message: str = Field(description="the signed bytes: canonical JSON of seq, hash, created_at and key_id")


class CheckpointExport(Page[CheckpointRead]):
    keys: list[dict[str, str]] = Field(description="public keys (JWK, OKP/Ed25519) that verify the signatures")


@router.get("/events", response_model=Page[AuditEventRead], responses=problems(422))
async def list_events(
    session: SessionDep,
    limit: Limit = 20,
    cursor: Cursor = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    action_prefix: Annotated[str | None, Query(max_length=100, description="e.g. `auth.`")] = None,
    object_type: Annotated[str | None, Query(max_length=60)] = None,
    object_id: Annotated[str | None, Query(max_length=100)] = None,
    subject: Annotated[str | None, Query(max_length=200)] = None,
    outcome: Annotated[str | None, Query(max_length=20)] = None,
    occurred_after: Instant | None = None,
    occurred_before: Instant | None = None,
) -> Page[AuditEventRead]:
    items, next_cursor = await repository.list_events(
        session,
        action=action,
        action_prefix=action_prefix,
        object_type=object_type,
        object_id=object_id,
        subject=subject,
        outcome=outcome,
        occurred_after=occurred_after,
        occurred_before=occurred_before,
        limit=limit,
        cursor=cursor,
    )
    return Page(items=[AuditEventRead.model_validate(dict(row)) for row in items], next_cursor=next_cursor)


@router.get("/verify", response_model=VerifyRead)
async def verify_chain(session: SessionDep, database: DatabaseDep) -> VerifyRead:
    # Chain what has committed so far, so the report covers every entry written before this request.
    async with database.transaction() as chaining:
        await chain_pending(chaining, limit=1_000_000)
    report = await verify(session)
    return VerifyRead.model_validate(report, from_attributes=True)


@router.get("/checkpoints", response_model=CheckpointExport, responses=problems(422))
async def list_checkpoints(session: SessionDep, limit: Limit = 20, cursor: Cursor = None) -> CheckpointExport:
    items, next_cursor = await repository.list_checkpoints(session, limit=limit, cursor=cursor)
    policy: AuditPolicy = session.info.get(POLICY_KEY) or AuditPolicy()
    return CheckpointExport(
        items=[
            CheckpointRead(
                **row,
                message=checkpoint_message(
                    seq=row["seq"], hash_=row["hash"], created_at=row["created_at"], key_id=row["key_id"]
                ).decode(),
            )
            for row in items
        ],
        next_cursor=next_cursor,
        keys=[public_jwk(key) for key in policy.trusted_keys.values()],
    )
