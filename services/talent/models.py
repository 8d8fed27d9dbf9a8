"""Talent rule sets: one row per version of a scheme. A version is never edited; a change is a new version.

The whole scheme is one JSON document (services/talent/rules.py); the columns beside it are what lists and the
lifecycle need. `version` is the scheme's version number, so the optimistic lock and the ETag are the `revision`.
At most one version of a code is active: a partial unique index says so on both databases.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, UniqueConstraint, text
from sqlmodel import Field

from core.audit.models import JsonType
from core.models import IdMixin, RevisionMixin, TimestampMixin

RULE_SET_STATUSES = ("draft", "active", "retired")
_ACTIVE = text("status = 'active'")


class TalentRuleSet(IdMixin, TimestampMixin, RevisionMixin, table=True):
    __tablename__ = "talent_rule_set"
    __table_args__ = (
        UniqueConstraint("code", "version", name="uq_talent_rule_set_code_version"),
        Index("uq_talent_rule_set_active", "code", unique=True, postgresql_where=_ACTIVE, sqlite_where=_ACTIVE),
        CheckConstraint("status IN ('draft', 'active', 'retired')", name="status"),
    )

    code: str = Field(max_length=63)
    version: int = Field(ge=1)
    status: str = Field(default="draft", max_length=10, description="draft | active | retired")
    name_zh: str = Field(max_length=300)
    name_en: str = Field(max_length=300)
    document: dict[str, Any] = Field(sa_type=JsonType)
    created_by: str | None = Field(default=None, max_length=100, description="the account (or client) that wrote it")
    activated_at: datetime | None = None
    retired_at: datetime | None = None
