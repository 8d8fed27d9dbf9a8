"""API schemas of talent rule sets, what-if assessments and talent applications. Request schemas forbid unknown fields.

The rule-set document itself (the request body of a new version, and `document` in a read) is
`services.talent.rules.RuleSetDocument`; an assessment's answer is `services.talent.engine.Assessment`.
"""

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from core.http.language import Localized
from core.sla import ANSWER_DAYS
from services.cloud.schemas import PresignedRead
from services.talent.claims import (
    AwardClaim,
    BirthDateClaim,
    Claim,
    EducationClaim,
    EmploymentClaim,
    LanguageClaim,
    PatentClaim,
    PublicationClaim,
    SalaryClaim,
)
from services.talent.rules import RuleSetCode

RuleSetStatus = Literal["draft", "active", "retired"]
MAX_CLAIMS = 100
DEFAULT_RULE_SET = "talent-island"


class RuleSetSummary(BaseModel):
    code: str
    version: int
    status: RuleSetStatus
    name: Localized
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


# -- talent applications ---------------------------------------------------------------------------------------------

MAX_APPLICATION_CLAIMS = 30
MAX_EVIDENCE_PER_CLAIM = 5
EVIDENCE_MEDIA_TYPES = ("application/pdf", "image/png", "image/jpeg")
EVIDENCE_MAX_BYTES = 10 * 1024 * 1024


class _Declared(BaseModel):
    """A claim as an applicant declares it: whether it is verified is for us to find out, never for them to say."""

    verified: SkipJsonSchema[Literal[False]] = Field(default=False, description="set by verification only")


class EducationDeclared(_Declared, EducationClaim):
    certificate_no: str | None = Field(
        default=None,
        pattern=r"^[0-9]{16}$",
        description="the degree certificate number (mainland degrees): the degree registry verifies it",
    )


class EmploymentDeclared(_Declared, EmploymentClaim):
    pass


class SalaryDeclared(_Declared, SalaryClaim):
    pass


class AwardDeclared(_Declared, AwardClaim):
    pass


class PatentDeclared(_Declared, PatentClaim):
    pass


class PublicationDeclared(_Declared, PublicationClaim):
    pass


class LanguageDeclared(_Declared, LanguageClaim):
    pass


class BirthDateDeclared(_Declared, BirthDateClaim):
    pass


DeclaredClaim = Annotated[
    EducationDeclared
    | EmploymentDeclared
    | SalaryDeclared
    | AwardDeclared
    | PatentDeclared
    | PublicationDeclared
    | LanguageDeclared
    | BirthDateDeclared,
    Field(discriminator="kind"),
]


class ApplicationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule_set: RuleSetCode = Field(
        default=DEFAULT_RULE_SET,
        description="the scheme to be assessed against: one that issues Talent Island cards (talent-island); the "
        "other schemes are for the what-if",
    )
    on_behalf_of: uuid.UUID | None = Field(
        default=None, description="an employer's partner system: the citizen account it sponsors"
    )
    renews: str | None = Field(
        default=None,
        pattern=r"^[A-Z0-9-]{1,40}$",
        description="renew this card of the applicant's (a sponsor's: one it filed for): its claims and evidence are "
        "copied, to be checked again",
    )


class ActionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, min_length=1, max_length=2000, description="why; the question; the answer")
    tier: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_-]{1,20}$", description="review: the recommended tier; approve: the tier"
    )
    due_in_days: int = Field(default=14, ge=1, le=60, description=ANSWER_DAYS)
    assignee_id: uuid.UUID | None = Field(default=None, description="reassign: the talent officer who takes over")


class ClaimVerification(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["verified", "unverifiable"]
    reason: str = Field(min_length=1, max_length=1000, description="what was checked, or why it could not be")


class EvidenceUploadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=200)
    media_type: Literal["application/pdf", "image/png", "image/jpeg"]
    size: int = Field(gt=0, le=EVIDENCE_MAX_BYTES, description="bytes; the upload is capped at 10 MiB")


class EvidenceRead(BaseModel):
    id: uuid.UUID
    claim_id: uuid.UUID
    filename: str
    media_type: str
    size: int | None
    sha256: str | None
    status: str
    uploaded_at: datetime | None


class EvidenceChange(EvidenceRead):
    # Confirmed evidence changes its application (the version moves on, as for a claim): the next step's If-Match.
    application_version: int = Field(description="the application's version after this change: its next If-Match")


class EvidenceUpload(BaseModel):
    evidence: EvidenceRead
    upload: PresignedRead = Field(description="PUT the file here, then confirm with its sha256")


class ClaimRead(BaseModel):
    id: uuid.UUID
    kind: str
    status: Literal["pending", "verified", "unverifiable"]
    method: str | None = Field(description="registry or officer: how it was decided")
    reason: str | None
    verified_at: datetime | None
    version: int
    masked: bool = Field(description="personal figures (salary, birth date, certificate number) are hidden from you")
    data: dict[str, Any] = Field(description="the claim as declared")
    evidence: list[EvidenceRead]


class ResultLine(BaseModel):
    """A breakdown line of the scored result. For anyone but the applicant and the reviewing officer, a line whose
    value is read from personal figures (salary, age) shows "***" and no band or points."""

    code: str
    name: Localized
    group: Literal["criterion", "bonus"]
    value: int | float | str | None
    band: dict[str, Any] | None
    earned: int | None
    points: int | None


class AssessmentResult(BaseModel):
    rule_set_version: int
    score: int
    tier: str | None
    route: str
    scored_at: datetime
    breakdown: list[ResultLine] = Field(description="per criterion, in rule-set order")


class TalentApplicationSummary(BaseModel):
    id: uuid.UUID
    reference: str
    status: str
    version: int
    rule_set: str
    score: int | None
    scored_tier: str | None
    approved_tier: str | None
    assignee_id: uuid.UUID | None
    submitted_at: datetime | None
    due_at: datetime | None


class TalentApplicationRead(TalentApplicationSummary):
    sponsored_by_client: str | None
    decided_at: datetime | None
    question: str | None
    answer_due_at: datetime | None
    result: AssessmentResult | None
    recommended_tier: str | None
    rejection_proposed: bool
    card_number: str | None
    sla: dict[str, Any]
    claims: list[ClaimRead]
    allowed_actions: list[str]
    created_at: datetime
    updated_at: datetime


class Benefit(BaseModel):
    code: str
    title: Localized


class TalentCardRead(BaseModel):
    number: str
    tier: str
    status: str = Field(description="active | suspended | revoked | expired")
    valid_from: datetime
    valid_until: datetime
    credential_id: uuid.UUID = Field(description="/api/v1/credentials/{id}/qr.png is its QR code")
    token: str = Field(description="the signed card (JWS): /api/v1/credentials/verify checks it")
    benefits: list[Benefit] = Field(description="the talent benefits the tier unlocks")
