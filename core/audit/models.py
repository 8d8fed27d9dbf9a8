"""Audit tables: the append-only event chain, its single head row, and signed checkpoints."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from core.models import new_id

# JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
JsonType = JSON().with_variant(JSONB(), "postgresql")

GENESIS_HASH = "0" * 64


class AuditEvent(SQLModel, table=True):
    """One entry, written with its change; `seq`, `prev_hash` and `hash` are filled in once, when it is chained."""

    __tablename__ = "audit_event"
    # The sequencer looks for unchained entries many times a second; this index holds only those.
    __table_args__ = (
        Index("ix_audit_event_unchained", "id", postgresql_where=text("seq IS NULL"), sqlite_where=text("seq IS NULL")),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    seq: int | None = Field(default=None, sa_column=Column(BigInteger, unique=True))
    occurred_at: datetime = Field(index=True)
    subject: str | None = Field(default=None, max_length=200, index=True)
    client_id: str | None = Field(default=None, max_length=200)
    address: str | None = Field(default=None, max_length=64)
    request_id: str | None = Field(default=None, max_length=64)
    action: str = Field(max_length=100, index=True)
    object_type: str | None = Field(default=None, max_length=60)
    object_id: str | None = Field(default=None, max_length=100)
    outcome: str = Field(max_length=20)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JsonType)
    prev_hash: str | None = Field(default=None, max_length=64)
    hash: str | None = Field(default=None, max_length=64)


class AuditHead(SQLModel, table=True):
    """One row (id = 1): the newest entry. Locking it serializes appends, which keeps the sequence gapless."""

    __tablename__ = "audit_head"

    id: int = Field(primary_key=True)
    seq: int = Field(sa_type=BigInteger)
    hash: str = Field(max_length=64)
    checkpoint_seq: int = Field(default=0, sa_type=BigInteger)
    checkpoint_at: datetime | None = None


class AuditCheckpoint(SQLModel, table=True):
    """A signature over the chain hash at `seq`: rewriting or truncating history before it becomes detectable."""

    __tablename__ = "audit_checkpoint"

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: str = Field(max_length=64)
    created_at: datetime
    key_id: str = Field(max_length=64)
    signature: str = Field(max_length=200)
