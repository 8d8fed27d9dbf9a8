"""Talent rule sets: one row per version of a points scheme, its JSON document beside the columns lists need

Reviewed by hand: (code, version) is unique, and as the leading columns of that constraint's index it also serves the
lookups by code and the list ordered by code and version; a partial unique index on code where the status is active
lets at most one version of a scheme be active, on both databases; the status is checked to be draft, active or
retired. The downgrade drops the table (and with it the rule sets written since).

Revision ID: 236c29dbb68a
Revises: 69f2b0b3a09e
Create Date: 2026-11-24 21:04:06.621774+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "236c29dbb68a"
down_revision: str | None = "69f2b0b3a09e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "talent_rule_set",
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("name_zh", sa.String(length=300), nullable=False),
        sa.Column("name_en", sa.String(length=300), nullable=False),
        sa.Column("document", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('draft', 'active', 'retired')", name=op.f("ck_talent_rule_set_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_talent_rule_set")),
        sa.UniqueConstraint("code", "version", name="uq_talent_rule_set_code_version"),
    )
    with op.batch_alter_table("talent_rule_set", schema=None) as batch_op:
        batch_op.create_index(
            "uq_talent_rule_set_active",
            ["code"],
            unique=True,
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("talent_rule_set", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_talent_rule_set_active",
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )

    op.drop_table("talent_rule_set")
