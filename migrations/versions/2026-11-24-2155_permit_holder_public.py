"""Permit holders: whether the public register may show the holder's name

A permit issued to a business named by the form (proposed_name, operator_name, applicant_name) is public by nature;
one issued to a person is not: the register masks the name and finds such a permit by its number only. Existing
rows default to private. Reviewed by hand.

Revision ID: 8c4f2a91d3e7
Revises: 5d0c1e7a9b21
Create Date: 2026-11-24 21:55:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8c4f2a91d3e7"
down_revision: str | None = "5d0c1e7a9b21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("permit_application", schema=None) as batch_op:
        batch_op.add_column(sa.Column("holder_public", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("permit_application", schema=None) as batch_op:
        batch_op.drop_column("holder_public")
