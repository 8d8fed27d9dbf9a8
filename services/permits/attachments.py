"""What hangs off an application: its documents (the service's checklist), comments, and the payment of its fees.

Documents go straight to object storage through a presigned URL; the backend never streams the file. Confirming an
upload checks what storage holds: the size against the checklist's cap, the SHA-256 the applicant computed, and the
real type sniffed from the first bytes (a `.pdf` that is not a PDF is refused and deleted). Object keys are made
here from ids; the file name the applicant gave is kept, cleaned, for display and downloads only.
"""

import uuid
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from auth import service as auth_service
from auth.guards import Principal
from core import audit
from core import comments as conversation
from core.db import touch
from core.errors import Forbidden, ValidationFailed, field_error
from core.models import new_id, utcnow
from core.workflow import APPLICANT, StepActor
from services.catalogue import service as catalogue_service
from services.cloud import service as cloud_service
from services.cloud.models import Payment
from services.cloud.ports import ObjectStorage, Payments
from services.permits import repository
from services.permits.exceptions import (
    ActionRefused,
    DocumentNotFound,
    DocumentNotUploaded,
    DocumentTooLarge,
    DocumentTypeRefused,
    PaymentNotDue,
)
from services.permits.models import PermitApplication, PermitComment, PermitDocument
from services.permits.schemas import (
    ChecklistItem,
    CommentCreate,
    CommentRead,
    DocumentChange,
    DocumentRead,
    DocumentUpload,
    DocumentUploadRequest,
    PresignedRead,
)
from services.permits.service import is_department_staff, is_owner, log_read, purpose_of, visible
from services.permits.workflow import COMMENT_ADDED

# Where the applicant may add documents: while drafting, and when an officer asked for more.
UPLOAD_STATES = frozenset({"draft", "awaiting_applicant"})


def _checklist(content: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["code"]: item for item in content.get("required_documents", [])}


def _read(row: PermitDocument) -> DocumentRead:
    return DocumentRead.model_validate(row, from_attributes=True)


def _changed(document: PermitDocument, application: PermitApplication) -> DocumentChange:
    return DocumentChange(**_read(document).model_dump(), application_version=application.version)


# -- documents ----------------------------------------------------------------------------------------------------


async def checklist(*, session: AsyncSession, principal: Principal, application_id: uuid.UUID) -> list[ChecklistItem]:
    """The pinned service's checklist, each line with its latest document."""
    row = await visible(session=session, principal=principal, application_id=application_id)
    await log_read(session=session, principal=principal, row=row, part="documents")  # their names tell about the person
    content = (await catalogue_service.pinned_version(session=session, service_id=row.service_id)).content
    latest = {doc.code: doc for doc in await repository.documents(session, row.id)}
    return [
        ChecklistItem(
            code=code,
            name=item["name"],
            required=item.get("required", True),
            media_types=item["media_types"],
            max_size_bytes=item["max_size_bytes"],
            document=_read(latest[code]) if code in latest else None,
        )
        for code, item in _checklist(content).items()
    ]


async def start_upload(
    *,
    session: AsyncSession,
    principal: Principal,
    storage: ObjectStorage,
    application_id: uuid.UUID,
    data: DocumentUploadRequest,
) -> DocumentUpload:
    """A document row and a presigned PUT capped at the checklist's size; the file then goes straight to storage."""
    row = await _own(session, principal, application_id)
    if row.status not in UPLOAD_STATES:
        raise ActionRefused(f"Documents are added to drafts or when asked for; this application is {row.status}.")
    content = (await catalogue_service.pinned_version(session=session, service_id=row.service_id)).content
    item = _checklist(content).get(data.code)
    if item is None:
        raise ValidationFailed(
            f"{data.code} is not on this service's checklist.", errors=[field_error("code", "not on the checklist")]
        )
    if data.media_type not in item["media_types"]:
        raise DocumentTypeRefused(f"{data.code} takes {', '.join(item['media_types'])}.")
    if data.size > item["max_size_bytes"]:
        raise DocumentTooLarge(f"{data.code} takes files up to {item['max_size_bytes']} bytes.")
    document_id = new_id()
    document = PermitDocument(
        id=document_id,
        application_id=row.id,
        code=data.code,
        filename=cloud_service.clean_filename(data.filename),
        object_key=f"permits/{row.id}/{document_id}",
        media_type=data.media_type,
    )
    session.add(document)
    await touch(session, row)
    upload = await storage.presign_upload(
        document.object_key, content_type=data.media_type, max_bytes=item["max_size_bytes"]
    )
    return DocumentUpload(
        document=_read(document), upload=cloud_service.presigned(upload), application_version=row.version
    )


async def confirm_upload(
    *,
    session: AsyncSession,
    principal: Principal,
    storage: ObjectStorage,
    application_id: uuid.UUID,
    document_id: uuid.UUID,
    sha256: str,
) -> DocumentChange:
    """Check what storage holds against the checklist and the applicant's checksum; refuse and delete a bad file."""
    row = await _own(session, principal, application_id)
    document = await _document(session, row, document_id)
    if document.status != "awaiting_upload":
        return _changed(document, row)  # confirming twice changes nothing
    if row.status not in UPLOAD_STATES:
        raise ActionRefused(f"Documents are added to drafts or when asked for; this application is {row.status}.")
    content = (await catalogue_service.pinned_version(session=session, service_id=row.service_id)).content
    item = _checklist(content)[document.code]
    head = await cloud_service.check_upload(
        storage,
        document.object_key,
        sha256=sha256,
        media_type=document.media_type,
        media_types=item["media_types"],
        max_bytes=item["max_size_bytes"],
    )
    document.size, document.sha256, document.status, document.uploaded_at = head.size, head.sha256, "uploaded", utcnow()
    session.add(document)
    await touch(session, row)
    audit.record(
        session,
        action="permits.document.uploaded",
        object_type="permit_document",
        object_id=document.id,
        detail={"application": str(row.id), "code": document.code, "sha256": document.sha256, "size": document.size},
    )
    return _changed(document, row)


async def review_document(
    *,
    session: AsyncSession,
    principal: Principal,
    storage: ObjectStorage,
    application_id: uuid.UUID,
    document_id: uuid.UUID,
    decision: str,
    reason: str | None,
) -> DocumentChange:
    """The officer handling the application (or the supervisor) accepts or rejects a document."""
    row = await visible(session=session, principal=principal, application_id=application_id)
    if not is_department_staff(principal, row):
        raise Forbidden("Only officers of the department review documents.")
    if row.assignee_id != principal.account_id and not principal.has_role("supervisor"):
        raise Forbidden("Only the officer handling the application (or the supervisor) reviews its documents.")
    if row.status != "under_review":
        raise ActionRefused(f"Documents are reviewed while the application is under review, not {row.status}.")
    document = await _document(session, row, document_id)
    if document.status == "awaiting_upload":
        raise DocumentNotUploaded("This document has not been uploaded.")
    if decision == "rejected" and not (reason and reason.strip()):
        raise ValidationFailed("Say why.", errors=[field_error("reason", "required to reject", code="missing")])
    if decision == "accepted":
        await cloud_service.check_unchanged(storage, document.object_key, document.sha256)
    document.status, document.reason, document.reviewed_by = decision, reason, principal.subject
    session.add(document)
    # A document's change is the application's (so on upload too): a step that read the documents (pass needs them
    # accepted) cannot commit beside it. Without it a supervisor rejected a document while the officer passed the
    # application, and both stood: fees fell due on a rejected document.
    await touch(session, row)
    audit.record(
        session,
        action=f"permits.document.{decision}",
        object_type="permit_document",
        object_id=document.id,
        detail={"application": str(row.id), "code": document.code, "reason": reason},
    )
    return _changed(document, row)


async def download(
    *,
    session: AsyncSession,
    principal: Principal,
    storage: ObjectStorage,
    application_id: uuid.UUID,
    document_id: uuid.UUID,
) -> PresignedRead:
    """A short-lived download URL, after the ownership check; a staff member's download lands in the access log."""
    row = await visible(session=session, principal=principal, application_id=application_id)
    document = await _document(session, row, document_id)
    if document.status == "awaiting_upload":
        raise DocumentNotUploaded("This document has not been uploaded.")
    await cloud_service.check_unchanged(storage, document.object_key, document.sha256)
    # Every reader but the applicant lands in the access log (log_citizen_read skips the applicant), partners too.
    await auth_service.log_citizen_read(
        session=session,
        reader=principal,
        citizen_id=row.applicant_id,
        purpose=f"application {row.reference}: document {document.code}",
        object_type="permit_document",
        object_id=document.id,
    )
    return cloud_service.presigned(await storage.presign_download(document.object_key, filename=document.filename))


async def _own(session: AsyncSession, principal: Principal, application_id: uuid.UUID) -> PermitApplication:
    row = await visible(session=session, principal=principal, application_id=application_id)
    if not is_owner(principal, row):
        raise Forbidden("Only the applicant adds documents and pays.")
    return row


async def _document(session: AsyncSession, row: PermitApplication, document_id: uuid.UUID) -> PermitDocument:
    document = await repository.document(session, row.id, document_id)
    if document is None:
        raise DocumentNotFound()
    return document


# -- comments -----------------------------------------------------------------------------------------------------


async def comments(
    *, session: AsyncSession, principal: Principal, application_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[CommentRead], str | None]:
    """Staff see every comment; the applicant only those meant for them. Anyone else's read is logged."""
    row = await visible(session=session, principal=principal, application_id=application_id)
    await log_read(session=session, principal=principal, row=row, part="comments")
    internal = is_department_staff(principal, row)
    return await conversation.thread(session, PermitComment, row.id, internal=internal, limit=limit, cursor=cursor)


async def add_comment(
    *, session: AsyncSession, principal: Principal, application_id: uuid.UUID, data: CommentCreate
) -> CommentRead:
    row = await visible(session=session, principal=principal, application_id=application_id)
    staff = is_department_staff(principal, row)
    role = ("supervisor" if principal.has_role("supervisor") else "officer") if staff else APPLICANT
    return await conversation.write(
        session,
        PermitComment,
        row,
        author=StepActor(principal.subject, role),
        staff=staff,
        data=data,
        event=COMMENT_ADDED,
    )


# -- payment ------------------------------------------------------------------------------------------------------


async def start_payment(
    *, session: AsyncSession, principal: Principal, payments: Payments, application_id: uuid.UUID
) -> Payment:
    """A payment order for the fees due (the open one again, if there is one); the callback records the payment."""
    row = await _own(session, principal, application_id)
    await repository.hold(session, row.id)  # two requests at once must not open two orders
    if row.status != "pending_payment" or not row.fee_total or row.paid_at is not None:
        raise PaymentNotDue(
            "Fees are paid once the review has passed."
            if row.status != "pending_payment"
            else "Nothing is due: the fees are paid or waived."
        )
    orders = await cloud_service.payments_for(session=session, purpose=purpose_of(row.id))
    if any(order.status == "paid" for order in orders):
        # Paid at the cloud, not yet recorded here (the worker records the notification): a second order would be
        # paid twice.
        raise PaymentNotDue("The fees are paid; the payment is being recorded.")
    for payment in reversed(orders):
        if payment.status == "created" and payment.amount == row.fee_total:
            return payment
    return await cloud_service.create_payment(
        session=session,
        payments=payments,
        purpose=purpose_of(row.id),
        amount=row.fee_total,
        description=f"{row.reference} 许可申请费用",
    )


async def latest_payment(*, session: AsyncSession, principal: Principal, application_id: uuid.UUID) -> Payment:
    """The latest payment of the fees; anyone but the applicant reading it is logged (what a person paid, and when)."""
    row = await visible(session=session, principal=principal, application_id=application_id)
    found = await cloud_service.payments_for(session=session, purpose=purpose_of(row.id))
    if not found:
        raise PaymentNotDue("No payment has been started for this application.")
    await log_read(session=session, principal=principal, row=row, part="payment")
    return found[-1]
