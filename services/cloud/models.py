"""What we keep of our dealings with the cloud: payment orders, SMS messages, and the callbacks already applied."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from core.models import IdMixin, TimestampMixin, VersionMixin, utcnow


class Payment(IdMixin, TimestampMixin, VersionMixin, table=True):
    __tablename__ = "cloud_payment"

    # Ours, sent to the cloud as its idempotency key: creating the order twice is one order.
    out_trade_no: str = Field(max_length=32, unique=True)
    order_id: str | None = Field(default=None, max_length=64, description="the cloud's order id")
    purpose: str = Field(max_length=200, index=True, description="what is paid for, e.g. permit.application:<id>")
    amount: int = Field(description="minor units (fen)")
    currency: str = Field(default="CNY", max_length=3)
    description: str = Field(max_length=128)
    status: str = Field(default="created", max_length=20, description="created | paid | failed | refunded")
    pay_url: str | None = Field(default=None, max_length=500)
    paid_at: datetime | None = None
    refunded_amount: int = 0


class SmsMessage(IdMixin, TimestampMixin, table=True):
    __tablename__ = "cloud_sms_message"

    client_token: str = Field(max_length=64, unique=True)
    serial_no: str | None = Field(default=None, max_length=64, unique=True)
    phone_encrypted: str = Field(max_length=200)
    template: str = Field(max_length=20)
    purpose: str = Field(max_length=200, index=True)
    status: str = Field(default="sent", max_length=20, description="sent | delivered | failed")
    error: str | None = Field(default=None, max_length=200)
    reported_at: datetime | None = None


class CallbackReceipt(SQLModel, table=True):
    """A cloud notification applied once: the same NotificationId again changes nothing."""

    __tablename__ = "cloud_callback_receipt"

    notification_id: str = Field(primary_key=True, max_length=100)
    kind: str = Field(max_length=40)
    received_at: datetime = Field(default_factory=utcnow)


class CallbackNonce(SQLModel, table=True):
    """Nonces of signed callbacks seen within the signature's validity window: a replayed request is refused."""

    __tablename__ = "cloud_callback_nonce"

    nonce: str = Field(primary_key=True, max_length=64)
    seen_at: datetime = Field(default_factory=utcnow, index=True)
