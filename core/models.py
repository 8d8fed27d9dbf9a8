"""Table plumbing shared by every domain: one naming-convention MetaData, ids, timestamps."""

import os
import time
import uuid
from datetime import UTC, datetime

from sqlalchemy.orm import declared_attr
from sqlmodel import Field, SQLModel

# Deterministic constraint names, so migrations can drop and alter them on every backend (SQLite batch mode needs it).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata = SQLModel.metadata


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (the only kind of datetime the database sees)."""
    return datetime.now(UTC)


def empty_list() -> list:
    """`default_factory=list` for table models: pydantic inspects a factory's signature on every construction, and
    for the builtin `list` that means parsing its text signature (about 40 µs each time); a plain function is cheap."""
    return []


def aware(value: datetime) -> datetime:
    """In UTC, zone attached: a datetime read back from SQLite comes without its zone (every stored one is UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_id() -> uuid.UUID:
    """A UUIDv7 (RFC 9562): time-ordered, so primary keys index and page in creation order."""
    millis = time.time_ns() // 1_000_000
    value = (millis & (2**48 - 1)) << 80 | int.from_bytes(os.urandom(10)) & ((1 << 80) - 1)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return uuid.UUID(int=value)


def first_id_at(moment: datetime) -> uuid.UUID:
    """The lowest UUIDv7 of `moment`: `id < first_id_at(t)` picks the rows made before t off the primary key's index."""
    millis = int(moment.timestamp() * 1000)
    return uuid.UUID(int=(millis & (2**48 - 1)) << 80 | 0x7 << 76 | 0x2 << 62)


class IdMixin(SQLModel):
    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)


class HistoryFields(IdMixin):
    """A step of an application's lifecycle as its history keeps it: what happened, who did it, from which state to
    which, and why. Each domain's history table adds the reference to its application."""

    action: str = Field(max_length=40)
    from_status: str = Field(max_length=30)
    to_status: str = Field(max_length=30)
    actor_subject: str | None = Field(default=None, max_length=100)
    actor_role: str = Field(max_length=20, description="applicant | officer | supervisor | partner | system")
    reason: str | None = Field(default=None, max_length=2000)
    occurred_at: datetime = Field(default_factory=utcnow)


class TimestampMixin(SQLModel):
    created_at: datetime = Field(default_factory=utcnow, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, nullable=False, sa_column_kwargs={"onupdate": utcnow})


class VersionMixin(SQLModel):
    """Optimistic locking: every UPDATE says `WHERE version = <the version read>` and bumps it.

    A concurrent writer that read the same version updates no row; SQLAlchemy raises StaleDataError, which the API
    answers with 412. The version is also the resource's ETag.
    """

    version: int = Field(default=1, nullable=False)

    @declared_attr  # type: ignore[misc]
    def __mapper_args__(cls) -> dict[str, object]:
        return {"version_id_col": cls.__table__.c.version}


class RevisionMixin(SQLModel):
    """The same optimistic locking as VersionMixin, for tables where `version` means something else (a catalogue
    service's version number): the lock and the ETag are the `revision`."""

    revision: int = Field(default=1, nullable=False)

    @declared_attr  # type: ignore[misc]
    def __mapper_args__(cls) -> dict[str, object]:
        return {"version_id_col": cls.__table__.c.revision}
