"""Talent applications: when the supervisors were told the deadline is near

The worker now escalates talent applications past 80% of their processing time, as it does permits, once each; the
column is its compare-and-set mark. Applications already near their deadline are escalated on the worker's first
round after the upgrade. Reviewed by hand.

Revision ID: 67629d6e6b8d
Revises: 426a79d04b4c
Create Date: 2026-11-25 03:10:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "67629d6e6b8d"
down_revision: str | None = "426a79d04b4c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("talent_application", schema=None) as batch_op:
        batch_op.add_column(sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("talent_application", schema=None) as batch_op:
        batch_op.drop_column("escalated_at")
