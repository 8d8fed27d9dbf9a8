"""Webhook deliveries keep when their round of sending began and when they are tried next

A delivery now retries on a schedule of its own spanning about a day, and one its receiver's breaker refuses waits
without counting an attempt, until the schedule's span has passed since `queued_at` (when it was made, replayed, or
its dead send retried). `next_attempt_at` shows the partner when it is tried next.

Existing deliveries: `queued_at` is when they were made; a pending one is tried next when its queued send is due (the
outbox event of `partner.webhook.due` about it), and the others are tried no more (null). Reviewed by hand.

The downgrade drops both columns.

Revision ID: 5e7d6298407e
Revises: 9d4f1b6e2c87
Create Date: 2026-11-25 21:39:33.017143+00:00
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e7d6298407e"
down_revision: str | None = "9d4f1b6e2c87"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

deliveries = sa.table(
    "webhook_delivery",
    sa.column("id", sa.Uuid()),
    sa.column("status", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("queued_at", sa.DateTime(timezone=True)),
    sa.column("next_attempt_at", sa.DateTime(timezone=True)),
)
outbox = sa.table(
    "outbox_event",
    sa.column("name", sa.String()),
    sa.column("subject", sa.String()),
    sa.column("status", sa.String()),
    sa.column("available_at", sa.DateTime(timezone=True)),
)
SUBJECT = "webhook_delivery:"


def upgrade() -> None:
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
    connection = op.get_bind()
    connection.execute(deliveries.update().values(queued_at=deliveries.c.created_at))
    queued = connection.execute(
        sa.select(outbox.c.subject, outbox.c.available_at).where(
            outbox.c.name == "partner.webhook.due", outbox.c.status == "pending"
        )
    )
    for subject, available_at in queued:
        if subject.startswith(SUBJECT):
            connection.execute(
                deliveries.update()
                .where(deliveries.c.id == uuid.UUID(subject.removeprefix(SUBJECT)), deliveries.c.status == "pending")
                .values(next_attempt_at=available_at)
            )
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.alter_column("queued_at", existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("queued_at")
