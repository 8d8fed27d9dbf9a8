"""Talent registrations have a conversation, as permit applications do (core.comments): table `talent_comment`

Generated, then read by hand: the same columns as `permit_comment`, deleted with their application. The downgrade
drops the table and the comments in it.

Revision ID: 5f75f6d48555
Revises: 5e7d6298407e
Create Date: 2026-11-25 21:40:41.182602+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5f75f6d48555"
down_revision: str | None = "5e7d6298407e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "talent_comment",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("author_subject", sa.String(length=100), nullable=False),
        sa.Column("author_role", sa.String(length=20), nullable=False),
        sa.Column("visibility", sa.String(length=20), nullable=False),
        sa.Column("body", sa.String(length=4000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["talent_application.id"],
            name=op.f("fk_talent_comment_application_id_talent_application"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_talent_comment")),
    )
    with op.batch_alter_table("talent_comment", schema=None) as batch_op:
        batch_op.create_index("ix_talent_comment_application", ["application_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("talent_comment", schema=None) as batch_op:
        batch_op.drop_index("ix_talent_comment_application")

    op.drop_table("talent_comment")
