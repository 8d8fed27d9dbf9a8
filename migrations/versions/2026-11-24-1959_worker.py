"""Worker: outbox delivery state, scheduled jobs, notifications, partner webhooks, the citizen access log

Reviewed by hand: the new outbox columns get server defaults so events written before this migration become
pending work with no attempts, due at once.

Revision ID: 9099373716dc
Revises: d21f1a995bbf
Create Date: 2026-11-24 19:59:49.410575+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "9099373716dc"
down_revision: str | None = "d21f1a995bbf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "access_log",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("reader_subject", sa.String(length=100), nullable=False),
        sa.Column("reader_name", sa.String(length=100), nullable=True),
        sa.Column("reader_kind", sa.String(length=20), nullable=False),
        sa.Column("reader_department", sa.String(length=40), nullable=True),
        sa.Column("client_id", sa.String(length=100), nullable=True),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("object_type", sa.String(length=50), nullable=False),
        sa.Column("object_id", sa.String(length=100), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_log")),
    )
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.create_index("ix_access_log_citizen", ["citizen_id", "id"], unique=False)

    op.create_table(
        "scheduled_job",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_by", sa.String(length=64), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduled_job")),
    )
    op.create_table(
        "webhook_subscription",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("events", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("secret_encrypted", sa.String(length=300), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscription")),
    )
    with op.batch_alter_table("webhook_subscription", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_subscription_client_id"), ["client_id"], unique=False)

    op.create_table(
        "notification",
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("template", sa.String(length=50), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("params", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.String(length=2000), nullable=False),
        sa.Column("dedupe_key", sa.String(length=100), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sms_status", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_notification_account_id_account"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
        sa.UniqueConstraint("account_id", "dedupe_key", name=op.f("uq_notification_account_id_dedupe_key")),
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.create_index("ix_notification_inbox", ["account_id", "id"], unique=False)

    op.create_table(
        "webhook_delivery",
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_name", sa.String(length=100), nullable=False),
        sa.Column("body", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscription.id"],
            name=op.f("fk_webhook_delivery_subscription_id_webhook_subscription"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_delivery")),
        sa.UniqueConstraint("subscription_id", "event_id", name=op.f("uq_webhook_delivery_subscription_id_event_id")),
    )
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_delivery_client_id"), ["client_id"], unique=False)
        batch_op.create_index("ix_webhook_delivery_list", ["subscription_id", "id"], unique=False)

    with op.batch_alter_table("outbox_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=10), nullable=False, server_default="pending"))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("available_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
        )
        batch_op.add_column(sa.Column("locked_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_outbox_event_due", ["status", "available_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox_event", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_event_due")
        batch_op.drop_column("processed_at")
        batch_op.drop_column("last_error")
        batch_op.drop_column("locked_until")
        batch_op.drop_column("locked_by")
        batch_op.drop_column("available_at")
        batch_op.drop_column("attempts")
        batch_op.drop_column("status")

    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_delivery_list")
        batch_op.drop_index(batch_op.f("ix_webhook_delivery_client_id"))

    op.drop_table("webhook_delivery")
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_inbox")

    op.drop_table("notification")
    with op.batch_alter_table("webhook_subscription", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_subscription_client_id"))

    op.drop_table("webhook_subscription")
    op.drop_table("scheduled_job")
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.drop_index("ix_access_log_citizen")

    op.drop_table("access_log")
