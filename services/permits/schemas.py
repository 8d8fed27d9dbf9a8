"""API schemas of permit applications. Request schemas forbid unknown fields: `status`, `applicant_id`,
`department` and the like are set by the system only, and a body that names them is refused."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from core.comments import CommentCreate, CommentRead  # noqa: F401  (re-exported)
from core.http.language import Localized
from core.sla import ANSWER_DAYS
from core.workflow import HistoryRead  # noqa: F401  (re-exported)
from services.cloud.schemas import DocumentConfirm, PresignedRead  # noqa: F401  (re-exported)

Condition = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
HolderName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Risk = Literal["on_track", "at_risk", "breached", "paused", "stopped"]
MediaType = Literal["application/pdf", "image/jpeg", "image/png"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApplicationCreate(Strict):
    service_code: str = Field(pattern=r"^[a-z][a-z0-9-]{1,62}$", description="a published permit service")
    form: dict[str, Any] = Field(default_factory=dict, description="answers keyed by the service form's field codes")
    holder_name: HolderName | None = Field(
        default=None, description="whom the permit is for; default: the business the form names, else you"
    )
    on_behalf_of: uuid.UUID | None = Field(
        default=None, description="partner systems only: the account of the citizen they apply for"
    )
    renews: str | None = Field(
        default=None,
        pattern=r"^[A-Z0-9-]{1,40}$",
        description="renew this permit of the applicant's (its number; in force, of this service): the draft starts "
        "from its form and holder, `form` changing what it gives; the new permit replaces it when issued",
    )


class ApplicationUpdate(Strict):
    form: dict[str, Any] | None = Field(default=None, description="replaces the whole form")
    holder_name: HolderName | None = None


class ActionRequest(Strict):
    reason: str | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description="why; for request_info the question, for answer the answer",
    )
    assignee_id: uuid.UUID | None = Field(default=None, description="reassign: the officer who takes over")
    due_in_days: int = Field(default=10, ge=1, le=60, description=ANSWER_DAYS)
    documents: list[str] = Field(
        default_factory=list, max_length=50, description="request_info: documents to upload again"
    )
    conditions: list[Condition] = Field(
        default_factory=list, max_length=10, description="approve: the permit's conditions"
    )


class FeeLine(BaseModel):
    code: str
    description: Localized
    amount: int = Field(description="minor units (fen)")
    currency: str
    waived: bool
    waiver: str | None
    due: int


class ServiceRef(BaseModel):
    code: str
    version: int
    title: Localized


class Sla(BaseModel):
    due_at: datetime | None
    risk: Risk
    paused: bool
    paused_seconds: int
    elapsed_seconds: int | None
    remaining_seconds: int | None


class InformationRequestRead(BaseModel):
    id: uuid.UUID
    question: str
    documents: list[str]
    requested_at: datetime
    due_at: datetime
    status: str
    answer: str | None
    answered_at: datetime | None


class ApplicationRead(BaseModel):
    id: uuid.UUID
    reference: str
    service: ServiceRef
    department: str
    status: str
    version: int
    holder_name: str
    form: dict[str, Any] = Field(
        description="the answers; those the service's form marks personal are `***` unless you are the applicant or "
        "the officer the application is assigned to (a partner's PATCH may send `***` back to keep one)"
    )
    form_masked: bool = Field(description="personal answers of the form are hidden from you (shown as `***`)")
    fees: list[FeeLine]
    fee_total: int
    paid_at: datetime | None
    refunded_at: datetime | None
    assignee_id: uuid.UUID | None
    rejection_proposed: bool
    submitted_by_client: str | None
    submitted_at: datetime | None
    decided_at: datetime | None
    sla: Sla
    permit_number: str | None
    renews: str | None = Field(description="the permit this application renews; it is replaced when this one is issued")
    information_request: InformationRequestRead | None
    allowed_actions: list[str] = Field(description="what you may do now")
    created_at: datetime
    updated_at: datetime


class ApplicationSummary(BaseModel):
    id: uuid.UUID
    reference: str
    service_code: str
    department: str
    status: str
    version: int
    holder_name: str
    assignee_id: uuid.UUID | None
    submitted_at: datetime | None
    due_at: datetime | None
    risk: Risk


class DocumentUploadRequest(Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", description="the checklist line")
    filename: str = Field(min_length=1, max_length=200)
    media_type: MediaType
    size: int = Field(gt=0, le=20 * 1024 * 1024, description="bytes; the upload is capped at the checklist's limit")


class DocumentRead(BaseModel):
    id: uuid.UUID
    code: str
    filename: str
    media_type: str
    size: int | None
    sha256: str | None
    status: str
    reason: str | None
    uploaded_at: datetime | None
    created_at: datetime


# A document's change is a change to its application (its version moves on, so a step that read the documents
# cannot commit beside it); the answer says the new version, so the applicant's next step needs no read first.
APPLICATION_VERSION = Field(description="the application's version after this change: its next step's If-Match")


class DocumentChange(DocumentRead):
    application_version: int = APPLICATION_VERSION


class DocumentUpload(BaseModel):
    document: DocumentRead
    upload: PresignedRead = Field(description="PUT the file here, then confirm with its sha256")
    application_version: int = APPLICATION_VERSION


class DocumentReview(Strict):
    decision: Literal["accepted", "rejected"]
    reason: str | None = Field(default=None, min_length=1, max_length=500, description="required to reject")


class ChecklistItem(BaseModel):
    code: str
    name: Localized
    required: bool
    media_types: list[str]
    max_size_bytes: int
    document: DocumentRead | None = Field(description="the latest upload for this line")


class PaymentRead(BaseModel):
    payment_id: uuid.UUID
    status: str
    amount: int
    currency: str
    pay_url: str | None
    paid_at: datetime | None


class RegisterEntry(BaseModel):
    permit_number: str
    holder_name: str
    service_code: str
    service_title: Localized
    department: str
    status: str = Field(description="active | suspended | revoked | expired")
    replaced_by: str | None = Field(description="revoked because its renewal replaced it: the permit in force instead")
    issued_at: datetime | None
    valid_until: datetime | None
