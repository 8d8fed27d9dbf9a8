"""Talent applications: the application, its claims (encrypted whole), their evidence documents and its history

Claims and the scored breakdown are ciphertext (text columns): nothing queries inside them. The queue index is
(status, due_at, id), the talent office's queue order; a card number is unique once issued; statuses are checked. Downgrade drops the four
tables, children first. Reviewed by hand.

Revision ID: 8118e064cb17
Revises: 8c4f2a91d3e7
Create Date: 2026-11-24 22:35:53.637484+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8118e064cb17"
down_revision: str | None = "8c4f2a91d3e7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "talent_application",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(length=30), nullable=False),
        sa.Column("applicant_id", sa.Uuid(), nullable=False),
        sa.Column("sponsored_by_client", sa.String(length=100), nullable=True),
        sa.Column("rule_set", sa.String(length=63), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("assignee_id", sa.Uuid(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("risk_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_seconds", sa.Integer(), nullable=False),
        sa.Column("question", sa.String(length=4000), nullable=True),
        sa.Column("answer_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rule_set_version", sa.Integer(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("scored_tier", sa.String(length=20), nullable=True),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("assessment_sealed", sa.Text(), nullable=True),
        sa.Column("recommended_tier", sa.String(length=20), nullable=True),
        sa.Column("rejection_proposed", sa.Boolean(), nullable=False),
        sa.Column("reviewed_by", sa.String(length=100), nullable=True),
        sa.Column("approved_tier", sa.String(length=20), nullable=True),
        sa.Column("card_number", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["applicant_id"], ["account.id"], name=op.f("fk_talent_application_applicant_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["account.id"], name=op.f("fk_talent_application_assignee_id_account")
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'submitted', 'verifying', 'awaiting_applicant', 'scored', 'approved', "
            "'card_issued', 'rejected', 'withdrawn')",
            name=op.f("ck_talent_application_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_talent_application")),
        sa.UniqueConstraint("reference", name=op.f("uq_talent_application_reference")),
    )
    with op.batch_alter_table("talent_application", schema=None) as batch_op:
        batch_op.create_index("ix_talent_application_applicant", ["applicant_id", "id"], unique=False)
        batch_op.create_index("ix_talent_application_card_number", ["card_number"], unique=True)
        batch_op.create_index("ix_talent_application_queue", ["status", "due_at", "id"], unique=False)

    op.create_table(
        "talent_claim",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("verified_by", sa.String(length=100), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["talent_application.id"],
            name=op.f("fk_talent_claim_application_id_talent_application"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("status IN ('pending', 'verified', 'unverifiable')", name=op.f("ck_talent_claim_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_talent_claim")),
    )
    with op.batch_alter_table("talent_claim", schema=None) as batch_op:
        batch_op.create_index("ix_talent_claim_application", ["application_id", "id"], unique=False)

    op.create_table(
        "talent_history",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("from_status", sa.String(length=30), nullable=False),
        sa.Column("to_status", sa.String(length=30), nullable=False),
        sa.Column("actor_subject", sa.String(length=100), nullable=True),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["talent_application.id"],
            name=op.f("fk_talent_history_application_id_talent_application"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_talent_history")),
    )
    with op.batch_alter_table("talent_history", schema=None) as batch_op:
        batch_op.create_index("ix_talent_history_application", ["application_id", "id"], unique=False)

    op.create_table(
        "talent_evidence",
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("claim_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("object_key", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=60), nullable=False),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["talent_application.id"],
            name=op.f("fk_talent_evidence_application_id_talent_application"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["talent_claim.id"], name=op.f("fk_talent_evidence_claim_id_talent_claim"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_talent_evidence")),
    )
    with op.batch_alter_table("talent_evidence", schema=None) as batch_op:
        batch_op.create_index("ix_talent_evidence_claim", ["claim_id", "id"], unique=False)
        batch_op.create_index("ix_talent_evidence_application", ["application_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("talent_evidence", schema=None) as batch_op:
        batch_op.drop_index("ix_talent_evidence_application")
        batch_op.drop_index("ix_talent_evidence_claim")

    op.drop_table("talent_evidence")
    with op.batch_alter_table("talent_history", schema=None) as batch_op:
        batch_op.drop_index("ix_talent_history_application")

    op.drop_table("talent_history")
    with op.batch_alter_table("talent_claim", schema=None) as batch_op:
        batch_op.drop_index("ix_talent_claim_application")

    op.drop_table("talent_claim")
    with op.batch_alter_table("talent_application", schema=None) as batch_op:
        batch_op.drop_index("ix_talent_application_queue")
        batch_op.drop_index("ix_talent_application_card_number")
        batch_op.drop_index("ix_talent_application_applicant")

    op.drop_table("talent_application")
