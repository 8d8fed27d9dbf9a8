"""API schemas of talent rule sets and what-if assessments. Request schemas forbid unknown fields.

The rule-set document itself (the request body of a new version, and `document` in a read) is
`services.talent.rules.RuleSetDocument`; an assessment's answer is `services.talent.engine.Assessment`.
"""

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.talent.claims import Claim
from services.talent.rules import RuleSetCode

RuleSetStatus = Literal["draft", "active", "retired"]
MAX_CLAIMS = 100
DEFAULT_RULE_SET = "talent-island"


class RuleSetSummary(BaseModel):
    code: str
    version: int
    status: RuleSetStatus
    name: dict[str, str] = Field(description='{"zh-CN": ..., "en": ...}')
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None


class RuleSetRead(RuleSetSummary):
    id: uuid.UUID
    created_by: str | None
    updated_at: datetime
    revision: int = Field(description="changes with the status; the ETag")
    document: dict[str, Any] = Field(description="the rule set as written (never changes)")
    allowed_actions: list[str] = Field(default_factory=list)


class AssessmentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claims: list[Claim] = Field(
        max_length=MAX_CLAIMS, description="each says whether it is (or, in a what-if, would be) verified"
    )
    rule_set: RuleSetCode = Field(default=DEFAULT_RULE_SET, description="the scheme to assess against")
    version: int | None = Field(default=None, ge=1, le=100_000, description="default: the active version")
    as_of: date | None = Field(
        default=None,
        ge=date(2000, 1, 1),
        le=date(2100, 12, 31),
        description="count ages and open periods to this date (default: today in China)",
    )
