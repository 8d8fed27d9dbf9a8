"""Catalogue tables. A service has versions; a published version never changes, a change is a new version.

The full content of a version is one JSON document (`content`, the ServiceContent schema); the columns beside it are
what lists, filters, ordering and search need, so a list never loads forms and checklists.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.audit.models import JsonType
from core.models import RevisionMixin, TimestampMixin, VersionMixin, new_id


class Department(TimestampMixin, VersionMixin, table=True):
    """A competent authority (CPSV-AP PublicOrganisation / HSDS organization)."""

    __tablename__ = "department"

    code: str = Field(primary_key=True, max_length=40)
    name_zh: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    contact: dict[str, Any] = Field(default_factory=dict, sa_type=JsonType)


class ServiceVersion(TimestampMixin, RevisionMixin, table=True):
    __tablename__ = "catalogue_service"
    __table_args__ = (
        UniqueConstraint("code", "version", name="uq_catalogue_service_code_version"),
        # The public list: the current version of each service, filtered and ordered by code.
        Index("ix_catalogue_service_current_code", "current", "code"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    code: str = Field(max_length=63, index=True)
    version: int = Field(ge=1)
    status: str = Field(max_length=20, index=True, description="draft | published | deprecated | withdrawn")
    # The version the public sees for this code: the newest one that is not a draft.
    current: bool = Field(default=False)
    department: str = Field(foreign_key="department.code", max_length=40, index=True)
    kind: str = Field(max_length=20)
    category: str = Field(max_length=63)
    audiences: str = Field(max_length=60, description="',citizen,talent,': filterable on every database")
    title_zh: str = Field(max_length=200)
    title_en: str = Field(max_length=200)
    summary_zh: str = Field(max_length=300)
    summary_en: str = Field(max_length=300)
    content: dict[str, Any] = Field(sa_type=JsonType)
    # Search tokens (see services/catalogue/search.py); the migrations build the full-text index over them.
    search_title: str = Field(default="")
    search_body: str = Field(default="")
    published_at: datetime | None = None
    created_by: uuid.UUID | None = None


class ProcessingTimes(SQLModel, table=True):
    """How long a permit service really takes (decided applications of the last year), next to the promised time."""

    __tablename__ = "catalogue_processing_times"

    code: str = Field(primary_key=True, max_length=63)
    median_seconds: int
    p90_seconds: int
    sample_size: int
    measured_at: datetime
