"""The rules around the cloud: payments and SMS we keep track of, the callbacks that move them on, the real-name check.

Callbacks are at-least-once from the cloud's side, so applying one is idempotent: a notification id already applied
changes nothing, and each status moves forward only (a late "paid" never undoes a "refunded").
"""

import re
import unicodedata
import uuid
from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from auth import service as auth_service
from auth.guards import Principal
from auth.identity import Identity
from auth.schemas import Me
from core import audit
from core.context import Actor
from core.errors import ValidationFailed, field_error
from core.events import Event, define_event, emit
from core.models import utcnow
from services.cloud import repository
from services.cloud.exceptions import (
    CallbackReplayed,
    CallbackUnknownObject,
    DocumentChanged,
    DocumentChecksumMismatch,
    DocumentNotUploaded,
    DocumentTooLarge,
    DocumentTypeRefused,
    IdentityCheckFailed,
)
from services.cloud.models import CallbackNonce, Payment, SmsMessage
from services.cloud.ports import (
    IdentityMatch,
    IdentityVerification,
    ObjectHead,
    ObjectStorage,
    Payments,
    PresignedUrl,
    Sms,
)
from services.cloud.schemas import PaymentNotification, PresignedRead, SmsReceipt
from services.cloud.signing import MAX_CLOCK_SKEW

PAYMENT_PAID = define_event("cloud.payment.paid", description="A payment order was paid.")
PAYMENT_FAILED = define_event("cloud.payment.failed", description="A payment attempt was declined.")
PAYMENT_REFUNDED = define_event("cloud.payment.refunded", description="A paid order was refunded.")
SMS_DELIVERED = define_event("cloud.sms.delivered", description="An SMS reached the phone.")
SMS_FAILED = define_event("cloud.sms.failed", description="An SMS could not be delivered.")

CLOUD = Actor(subject="cloud", client_id="government-cloud")


# -- documents in object storage ------------------------------------------------------------------------------------
# Documents go straight to storage through a presigned URL; the backend never streams a file. What the domains that
# take documents (permits, talent) share: cleaning the display name, and checking what storage really holds.

_MAGIC = ((b"%PDF-", "application/pdf"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))


def sniff(prefix: bytes) -> str | None:
    """The media type the content really has (of the ones documents may have), from its magic number."""
    return next((media_type for magic, media_type in _MAGIC if prefix.startswith(magic)), None)


def clean_filename(name: str) -> str:
    """A display name: no path, no control or separator characters, at most 100 characters, its extension kept."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"[\"<>:|?*;]", "_", name).strip(" .") or "document"
    stem, dot, extension = name.rpartition(".")
    if dot and len(extension) <= 10:
        return stem[: 100 - len(extension) - 1] + "." + extension
    return name[:100]


def presigned(url: PresignedUrl) -> PresignedRead:
    """A presigned URL as the API hands it out."""
    return PresignedRead(url=url.url, method=url.method, headers=url.headers, expires_at=url.expires_at)


async def check_upload(
    storage: ObjectStorage, key: str, *, sha256: str, media_type: str, media_types: list[str], max_bytes: int
) -> ObjectHead:
    """What storage holds under `key`, if it is the file described: within `max_bytes`, with the uploader's SHA-256,
    and really of `media_type` (sniffed from its first bytes). A file that is not is deleted, and the error says why."""
    head = await storage.head(key)
    if head is None:
        raise DocumentNotUploaded("Nothing has arrived for this document yet; PUT the file to the upload URL first.")
    if head.size > max_bytes:
        await storage.delete(key)
        raise DocumentTooLarge(f"The file has {head.size} bytes; this document takes up to {max_bytes}.")
    if head.sha256 != sha256:
        await storage.delete(key)
        raise DocumentChecksumMismatch(
            "The stored file's SHA-256 differs from yours: upload it again.",
            errors=[field_error("sha256", "does not match the stored file", code="mismatch")],
        )
    actual = sniff(await storage.read_prefix(key, 16))
    if actual != media_type or actual not in media_types:
        await storage.delete(key)
        raise DocumentTypeRefused(f"The file's content is {actual or 'not a PDF, PNG or JPEG'}, not {media_type}.")
    return head


async def check_unchanged(storage: ObjectStorage, key: str, sha256: str | None) -> None:
    """The stored file is still the one confirmed: an upload URL stays valid for a while, and a second PUT to it
    would otherwise swap the file under a document already checked (or accepted)."""
    head = await storage.head(key)
    if head is None or head.sha256 != sha256:
        raise DocumentChanged("The stored file is no longer the one that was confirmed; upload it again.")


# -- payments -----------------------------------------------------------------------------------------------------


async def create_payment(
    *, session: AsyncSession, payments: Payments, purpose: str, amount: int, description: str, currency: str = "CNY"
) -> Payment:
    """A payment order at the cloud for `purpose`; the row and the order share one out-trade number."""
    row = Payment(
        out_trade_no=f"TI{uuid.uuid4().hex[:24].upper()}",
        purpose=purpose,
        amount=amount,
        currency=currency,
        description=description[:128],
    )
    order = await payments.create_order(
        out_trade_no=row.out_trade_no, amount=amount, currency=currency, description=row.description
    )
    row.order_id, row.pay_url = order.order_id, order.pay_url
    session.add(row)
    await session.flush()
    audit.record(
        session, action="cloud.payment.created", object_type="payment", object_id=row.id, detail={"purpose": purpose}
    )
    return row


async def refund_payment(*, session: AsyncSession, payments: Payments, payment: Payment, reason: str) -> str:
    """Refund a paid order in full; the refund number is derived from the order, so asking twice is one refund."""
    return await payments.refund(
        out_trade_no=payment.out_trade_no,
        out_refund_no=f"R{payment.out_trade_no}",
        amount=payment.amount,
        reason=reason[:80],
    )


async def payments_for(*, session: AsyncSession, purpose: str) -> list[Payment]:
    return await repository.payments_for(session, purpose)


_PAYMENT_MOVES = {
    # event type -> (statuses it may move from, status it moves to, event emitted)
    "TRANSACTION.SUCCESS": ({"created", "failed"}, "paid", PAYMENT_PAID),
    "TRANSACTION.FAIL": ({"created"}, "failed", PAYMENT_FAILED),
    "REFUND.SUCCESS": ({"paid"}, "refunded", PAYMENT_REFUNDED),
}


async def apply_payment_notification(*, session: AsyncSession, notification: PaymentNotification) -> bool:
    """Apply a payment notification once; False when this notification was already applied."""
    # Claimed first, in one statement: two deliveries of one notification at once both read "not applied" and the
    # second then failed on the key (409), so the cloud sent it again; now it waits and is told "duplicate".
    if not await repository.claim_receipt(session, notification.NotificationId, "payment"):
        return False
    payment = await repository.payment_by_out_trade_no(session, notification.OutTradeNo)
    if payment is None:
        raise CallbackUnknownObject(f"No payment {notification.OutTradeNo}.")
    if (notification.Amount, notification.Currency) != (payment.amount, payment.currency):
        raise ValidationFailed(
            "The notified amount differs from the order's.",
            errors=[field_error("Amount", "does not match the order", code="amount_mismatch")],
        )
    if notification.OrderId != payment.order_id:
        # The cloud's order for our trade number is the one it gave us: another order under our number is not ours
        # to apply (a payment made there, or an order mixed up, would otherwise count as this one paid).
        raise ValidationFailed(
            "The notified order is not the one the cloud opened for this payment.",
            errors=[field_error("OrderId", "does not match the order", code="order_mismatch")],
        )
    sources, target, event = _PAYMENT_MOVES[notification.EventType]
    if payment.status in sources:
        payment.status = target
        if target == "paid":
            payment.paid_at = utcnow()
        if target == "refunded":
            payment.refunded_amount = payment.amount
        session.add(payment)
        audit.record(
            session,
            action=f"cloud.payment.{target}",
            object_type="payment",
            object_id=payment.id,
            detail={"order_id": notification.OrderId, "event": notification.EventType},
            actor=CLOUD,
        )
        emit(
            session,
            Event(
                event.name,
                subject=payment.purpose,
                payload={"payment_id": payment.id, "out_trade_no": payment.out_trade_no, "amount": payment.amount},
            ),
        )
    await session.flush()
    return True


# -- SMS --------------------------------------------------------------------------------------------------------


async def send_sms(
    *,
    session: AsyncSession,
    sms: Sms,
    identity: Identity,
    phone: str,
    template: str,
    params: list[str],
    purpose: str,
    client_token: str,
) -> SmsMessage:
    """Send one templated SMS; the same client token again is the same message (here and at the cloud)."""
    known = await repository.sms_by_client_token(session, client_token)
    if known is not None:
        return known
    sent = await sms.send(phone=phone, template=template, params=params, client_token=client_token)
    row = SmsMessage(
        client_token=client_token,
        serial_no=sent.serial_no,
        phone_encrypted=identity.cipher.encrypt(phone, context="phone"),
        template=template,
        purpose=purpose,
    )
    session.add(row)
    await session.flush()
    return row


async def apply_sms_receipts(*, session: AsyncSession, receipts: list[SmsReceipt]) -> int:
    """Apply delivery reports; a report for a message we have not recorded yet is refused, so the cloud resends it."""
    changed = 0
    for receipt in receipts:
        message = await repository.sms_by_serial(session, receipt.sid)
        if message is None:
            raise CallbackUnknownObject(f"No SMS {receipt.sid} yet.")
        if message.status != "sent":
            continue  # a report delivered again
        delivered = receipt.report_status == "SUCCESS"
        message.status = "delivered" if delivered else "failed"
        message.error = None if delivered else f"{receipt.errmsg} {receipt.description}".strip()[:200]
        message.reported_at = utcnow()
        session.add(message)
        emit(
            session,
            Event(
                (SMS_DELIVERED if delivered else SMS_FAILED).name,
                subject=message.purpose,
                payload={"sms_id": message.id, "template": message.template, "error": message.error},
            ),
        )
        changed += 1
    await session.flush()
    return changed


# -- callbacks ----------------------------------------------------------------------------------------------------


async def remember_nonce(*, session: AsyncSession, nonce: str) -> None:
    """Refuse a signed callback seen before; nonces older than the signature window are forgotten."""
    if await repository.nonce_seen(session, nonce):
        raise CallbackReplayed()
    await repository.forget_nonces_before(session, utcnow() - timedelta(seconds=2 * MAX_CLOCK_SKEW))
    session.add(CallbackNonce(nonce=nonce))
    await session.flush()


# -- the account's real-name check ------------------------------------------------------------------------------


async def verify_account_identity(
    *,
    session: AsyncSession,
    identity: Identity,
    verifier: IdentityVerification,
    principal: Principal,
    name: str,
    id_number: str,
) -> Me:
    """Check name + ID number against the national register; on a match the citizen's account becomes active."""
    result = await verifier.verify_identity(name=name, id_number=id_number)
    if result is not IdentityMatch.MATCH:
        detail = {
            IdentityMatch.MISMATCH: "The name and ID number do not match the national register.",
            IdentityMatch.NOT_FOUND: "The national register has no record of this ID number.",
        }[result]
        raise IdentityCheckFailed(detail, extra={"result": result.value})
    return await auth_service.record_verified_identity(
        session=session, identity=identity, account_id=principal.account_id, name=name, id_number=id_number
    )
