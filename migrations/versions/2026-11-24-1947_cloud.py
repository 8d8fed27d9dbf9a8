"""Cloud: payment orders, SMS messages, applied callbacks and callback nonces; the account's verified ID number

Reviewed by hand: the ID number column is ciphertext (AES-GCM) beside a unique keyed lookup hash, never plain.

Revision ID: d21f1a995bbf
Revises: d7640bfcb668
Create Date: 2026-11-24 19:47:18.700446+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d21f1a995bbf"
down_revision: str | None = "d7640bfcb668"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cloud_callback_nonce",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_cloud_callback_nonce")),
    )
    with op.batch_alter_table("cloud_callback_nonce", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cloud_callback_nonce_seen_at"), ["seen_at"], unique=False)

    op.create_table(
        "cloud_callback_receipt",
        sa.Column("notification_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("notification_id", name=op.f("pk_cloud_callback_receipt")),
    )
    op.create_table(
        "cloud_payment",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("out_trade_no", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("description", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("pay_url", sa.String(length=500), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refunded_amount", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cloud_payment")),
        sa.UniqueConstraint("out_trade_no", name=op.f("uq_cloud_payment_out_trade_no")),
    )
    with op.batch_alter_table("cloud_payment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cloud_payment_purpose"), ["purpose"], unique=False)

    op.create_table(
        "cloud_sms_message",
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_token", sa.String(length=64), nullable=False),
        sa.Column("serial_no", sa.String(length=64), nullable=True),
        sa.Column("phone_encrypted", sa.String(length=200), nullable=False),
        sa.Column("template", sa.String(length=20), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cloud_sms_message")),
        sa.UniqueConstraint("client_token", name=op.f("uq_cloud_sms_message_client_token")),
        sa.UniqueConstraint("serial_no", name=op.f("uq_cloud_sms_message_serial_no")),
    )
    with op.batch_alter_table("cloud_sms_message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cloud_sms_message_purpose"), ["purpose"], unique=False)

    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("id_number_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("id_number_encrypted", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("identity_verified_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_account_id_number_hash"), ["id_number_hash"])


def downgrade() -> None:
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_account_id_number_hash"), type_="unique")
        batch_op.drop_column("identity_verified_at")
        batch_op.drop_column("id_number_encrypted")
        batch_op.drop_column("id_number_hash")

    with op.batch_alter_table("cloud_sms_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cloud_sms_message_purpose"))

    op.drop_table("cloud_sms_message")
    with op.batch_alter_table("cloud_payment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cloud_payment_purpose"))

    op.drop_table("cloud_payment")
    op.drop_table("cloud_callback_receipt")
    with op.batch_alter_table("cloud_callback_nonce", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cloud_callback_nonce_seen_at"))

    op.drop_table("cloud_callback_nonce")
