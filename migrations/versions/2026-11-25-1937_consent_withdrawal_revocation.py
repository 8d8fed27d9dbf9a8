"""A revocation entry can name a subject and a client together (withdrawing a consent)

A person who withdraws their consent to a client has every token of theirs issued to that client stop: one
`token_revocation` entry of kind `subject_client` whose value is "<subject> <client_id>", up to 137 characters, so
the value column widens from 100 to 200. On PostgreSQL widening a varchar rewrites nothing; on SQLite the table
(which holds only entries younger than the access-token lifetime) is copied. Reviewed by hand.

The downgrade first drops the `subject_client` entries, which the code before this revision does not read and which
would not fit the narrower column; they expire within minutes anyway, and the consents they followed are gone.

Revision ID: c7a02acc59e4
Revises: 5c1e7a9d2b40
Create Date: 2026-11-25 19:37:07+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c7a02acc59e4"
down_revision: str | None = "5c1e7a9d2b40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

revocations = sa.table("token_revocation", sa.column("kind", sa.String()))


def upgrade() -> None:
    with op.batch_alter_table("token_revocation", schema=None) as batch_op:
        batch_op.alter_column(
            "value", existing_type=sa.String(length=100), type_=sa.String(length=200), existing_nullable=False
        )


def downgrade() -> None:
    op.execute(revocations.delete().where(revocations.c.kind == "subject_client"))
    with op.batch_alter_table("token_revocation", schema=None) as batch_op:
        batch_op.alter_column(
            "value", existing_type=sa.String(length=200), type_=sa.String(length=100), existing_nullable=False
        )
