"""Credentials: issued permits and talent cards, signed (JWS) and verifiable

Reviewed by hand: one table; lookups by number (its unique constraint), by holder (their list, newest first), by
subject (the issuing domain's application), and by (status, valid_until) for the expiry reminders. The holder must be
an account, and deleting an account does not silently delete the credentials issued to it.

Revision ID: e1bada2721df
Revises: 9099373716dc
Create Date: 2026-11-24 20:31:14.681286+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "e1bada2721df"
down_revision: str | None = "9099373716dc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credential",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("subject_type", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("holder_account_id", sa.Uuid(), nullable=False),
        sa.Column("holder_name", sa.String(length=200), nullable=False),
        sa.Column("department", sa.String(length=40), nullable=False),
        sa.Column("title", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("conditions", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_reason", sa.String(length=1000), nullable=True),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("kid", sa.String(length=100), nullable=False),
        sa.Column("token", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["holder_account_id"], ["account.id"], name=op.f("fk_credential_holder_account_id_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credential")),
        sa.UniqueConstraint("number", name=op.f("uq_credential_number")),
    )
    with op.batch_alter_table("credential", schema=None) as batch_op:
        batch_op.create_index("ix_credential_expiry", ["status", "valid_until"], unique=False)
        batch_op.create_index("ix_credential_holder", ["holder_account_id", "id"], unique=False)
        batch_op.create_index("ix_credential_subject", ["subject_type", "subject_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("credential", schema=None) as batch_op:
        batch_op.drop_index("ix_credential_subject")
        batch_op.drop_index("ix_credential_holder")
        batch_op.drop_index("ix_credential_expiry")

    op.drop_table("credential")
