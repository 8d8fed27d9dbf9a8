"""What the domains need from the government cloud, as Protocols. Domains depend on these, never on the adapter.

Every method may raise `services.cloud.exceptions.CloudError` (the cloud refused, with its code) or `CloudUnavailable`
(timeouts, retries exhausted, breaker open). Asynchronous results (SMS delivery receipts, payment notifications)
arrive as signed callbacks at `/callbacks/cloud/*`.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True)
class PresignedUrl:
    url: str
    method: str
    expires_at: datetime
    headers: dict[str, str]


@dataclass(frozen=True)
class ObjectHead:
    key: str
    size: int
    sha256: str
    content_type: str


class ObjectStorage(Protocol):
    async def presign_upload(self, key: str, *, content_type: str, max_bytes: int) -> PresignedUrl: ...
    async def presign_download(self, key: str, *, filename: str | None = None) -> PresignedUrl: ...
    async def head(self, key: str) -> ObjectHead | None: ...
    async def read_prefix(self, key: str, length: int = 512) -> bytes:
        """The object's first bytes (a ranged GET): enough to tell a file's real type from its content."""
        ...

    async def delete(self, key: str) -> None: ...


@dataclass(frozen=True)
class SmsSent:
    serial_no: str
    fee: int


class Sms(Protocol):
    async def send(self, *, phone: str, template: str, params: list[str], client_token: str) -> SmsSent:
        """Accepted for delivery; the delivery receipt comes later to /callbacks/cloud/sms. `client_token` makes a
        retried send one message."""
        ...


class IdentityMatch(StrEnum):
    MATCH = "match"
    MISMATCH = "mismatch"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class DegreeRecord:
    degree: str
    institution: str
    year: int


@dataclass(frozen=True)
class TaxMonth:
    month: str  # YYYY-MM
    income: int  # minor units (fen)
    employer: str


class IdentityVerification(Protocol):
    async def verify_identity(self, *, name: str, id_number: str) -> IdentityMatch: ...
    async def verify_degree(self, *, name: str, id_number: str, certificate_no: str) -> DegreeRecord | None:
        """The registry's record of the degree, or None when it cannot be verified."""
        ...

    async def tax_records(self, *, id_number: str, months: int = 12) -> list[TaxMonth]: ...


class PaymentStatus(StrEnum):
    NOT_PAID = "not_paid"
    PAID = "paid"
    FAILED = "failed"
    REFUNDED = "refunded"


@dataclass(frozen=True)
class PaymentOrder:
    order_id: str
    out_trade_no: str
    pay_url: str
    status: PaymentStatus


class Payments(Protocol):
    async def create_order(self, *, out_trade_no: str, amount: int, currency: str, description: str) -> PaymentOrder:
        """Creating the same out-trade number again returns the same order (idempotent)."""
        ...

    async def query(self, *, out_trade_no: str) -> PaymentOrder: ...
    async def refund(self, *, out_trade_no: str, out_refund_no: str, amount: int, reason: str) -> str:
        """The refund id; the same out-refund number again is the same refund."""
        ...


@dataclass(frozen=True)
class DigestSignature:
    signature: str  # base64
    key_id: str
    signed_at: datetime


class ESign(Protocol):
    async def sign(self, *, sha256: str) -> DigestSignature: ...
    async def verify(self, *, sha256: str, signature: str, key_id: str) -> bool: ...


@dataclass(frozen=True)
class Cloud:
    """The ports, bundled; `request.app.state.cloud` holds one (see services/cloud/dependencies.py)."""

    storage: ObjectStorage
    sms: Sms
    identity: IdentityVerification
    payments: Payments
    esign: ESign
