"""Permit applications: the application, its history, documents, comments and requests for information; reference
counters; observed processing times per catalogue service

Reviewed by hand: the queue indexes lead with the department (every staff query filters by it) and end with the
deadline and id the queue is ordered and paged by; the permit number is unique where present (the public register).

Revision ID: 69f2b0b3a09e
Revises: e1bada2721df
Create Date: 2026-11-24 20:34:27.086933+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "69f2b0b3a09e"
down_revision: str | None = "e1bada2721df"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalogue_processing_times",
        sa.Column("code", sa.String(length=63), nullable=False),
        sa.Column("median_seconds", sa.Integer(), nullable=False),
        sa.Column("p90_seconds", sa.Integer(), nullable=False),
        sa.Column("sample_size", sa.Integer(), nullable=False),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_catalogue_processing_times")),
    )
    op.create_table(
        "reference_counter",
        sa.Column("prefix", sa.String(length=20), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("prefix", "year", name=op.f("pk_reference_counter")),
    )
    op.create_table(
        "permit_application",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(length=30), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("service_code", sa.String(length=63), nullable=False),
        sa.Column("service_version", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(length=40), nullable=False),
        sa.Column("applicant_id", sa.Uuid(), nullable=False),
        sa.Column("submitted_by_client", sa.String(length=100), nullable=True),
        sa.Column("holder_name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("form", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("fees", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("fee_total", sa.Integer(), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("assignee_id", sa.Uuid(), nullable=True),
        sa.Column("rejection_proposed", sa.Boolean(), nullable=False),
        sa.Column("conditions", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("risk_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_seconds", sa.Integer(), nullable=False),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("permit_number", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["applicant_id"], ["account.id"], name=op.f("fk_permit_application_applicant_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["catalogue_service.id"], name=op.f("fk_permit_application_service_id_catalogue_service")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permit_application")),
        sa.UniqueConstraint("reference", name=op.f("uq_permit_application_reference")),
    )
    with op.batch_alter_table("permit_application", schema=None) as batch_op:
        batch_op.create_index("ix_permit_application_applicant", ["applicant_id", "id"], unique=False)
        batch_op.create_index("ix_permit_application_assignee", ["department", "assignee_id", "id"], unique=False)
        batch_op.create_index("ix_permit_application_deadline", ["department", "due_at", "id"], unique=False)
        batch_op.create_index("ix_permit_application_queue", ["department", "status", "due_at", "id"], unique=False)
        batch_op.create_index("ix_permit_application_permit_number", ["permit_number"], unique=True)
        batch_op.create_index(batch_op.f("ix_permit_application_service_code"), ["service_code"], unique=False)

    op.create_table(
        "permit_comment",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("author_subject", sa.String(length=100), nullable=False),
        sa.Column("author_role", sa.String(length=20), nullable=False),
        sa.Column("visibility", sa.String(length=20), nullable=False),
        sa.Column("body", sa.String(length=4000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["permit_application.id"],
            name=op.f("fk_permit_comment_application_id_permit_application"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permit_comment")),
    )
    with op.batch_alter_table("permit_comment", schema=None) as batch_op:
        batch_op.create_index("ix_permit_comment_application", ["application_id", "id"], unique=False)

    op.create_table(
        "permit_document",
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("object_key", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=60), nullable=False),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["permit_application.id"],
            name=op.f("fk_permit_document_application_id_permit_application"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permit_document")),
    )
    with op.batch_alter_table("permit_document", schema=None) as batch_op:
        batch_op.create_index("ix_permit_document_application", ["application_id", "code"], unique=False)

    op.create_table(
        "permit_history",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("from_status", sa.String(length=30), nullable=False),
        sa.Column("to_status", sa.String(length=30), nullable=False),
        sa.Column("actor_subject", sa.String(length=100), nullable=True),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["permit_application.id"],
            name=op.f("fk_permit_history_application_id_permit_application"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permit_history")),
    )
    with op.batch_alter_table("permit_history", schema=None) as batch_op:
        batch_op.create_index("ix_permit_history_application", ["application_id", "id"], unique=False)

    op.create_table(
        "permit_information_request",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("question", sa.String(length=4000), nullable=False),
        sa.Column("documents", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("answer", sa.String(length=4000), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["permit_application.id"],
            name=op.f("fk_permit_information_request_application_id_permit_application"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permit_information_request")),
    )
    with op.batch_alter_table("permit_information_request", schema=None) as batch_op:
        batch_op.create_index("ix_permit_rfi_application", ["application_id", "id"], unique=False)
        batch_op.create_index("ix_permit_rfi_due", ["status", "due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("permit_information_request", schema=None) as batch_op:
        batch_op.drop_index("ix_permit_rfi_due")
        batch_op.drop_index("ix_permit_rfi_application")

    op.drop_table("permit_information_request")
    with op.batch_alter_table("permit_history", schema=None) as batch_op:
        batch_op.drop_index("ix_permit_history_application")

    op.drop_table("permit_history")
    with op.batch_alter_table("permit_document", schema=None) as batch_op:
        batch_op.drop_index("ix_permit_document_application")

    op.drop_table("permit_document")
    with op.batch_alter_table("permit_comment", schema=None) as batch_op:
        batch_op.drop_index("ix_permit_comment_application")

    op.drop_table("permit_comment")
    with op.batch_alter_table("permit_application", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_permit_application_service_code"))
        batch_op.drop_index("ix_permit_application_permit_number")
        batch_op.drop_index("ix_permit_application_queue")
        batch_op.drop_index("ix_permit_application_deadline")
        batch_op.drop_index("ix_permit_application_assignee")
        batch_op.drop_index("ix_permit_application_applicant")

    op.drop_table("permit_application")
    op.drop_table("reference_counter")
    op.drop_table("catalogue_processing_times")
