"""Permit renewal: an application may renew a permit its applicant holds (`renews`, the permit's number)

A permit is renewed once: a partial unique index lets one application under way or issued hold the number (one that
was rejected or withdrawn frees it), so two renewals racing past the service's check cannot both land. Existing rows
renew nothing. Reviewed by hand.

Revision ID: 1c9cc416a33e
Revises: 21dac57f0369
Create Date: 2026-11-25 10:22:04+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1c9cc416a33e"
down_revision: str | None = "21dac57f0369"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RENEWING = sa.text("renews IS NOT NULL AND status NOT IN ('rejected', 'withdrawn')")


def upgrade() -> None:
    with op.batch_alter_table("permit_application") as batch_op:
        batch_op.add_column(sa.Column("renews", sa.String(length=40), nullable=True))
        batch_op.create_index(
            "uq_permit_application_renews", ["renews"], unique=True, postgresql_where=RENEWING, sqlite_where=RENEWING
        )


def downgrade() -> None:
    with op.batch_alter_table("permit_application") as batch_op:
        batch_op.drop_index("uq_permit_application_renews")
        batch_op.drop_column("renews")
