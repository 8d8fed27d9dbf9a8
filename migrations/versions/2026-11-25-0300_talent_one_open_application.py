"""Talent applications: at most one open application per person, held by the database

The service checked it before inserting, but two creates at the same moment could both pass that check. A partial
unique index on the applicant over the open states closes the race. If a race already left a person with two open
applications, the upgrade stops and says whose: which one to withdraw is a decision for an officer, not a migration.
Reviewed by hand.

Revision ID: 426a79d04b4c
Revises: 8118e064cb17
Create Date: 2026-11-25 02:59:13+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "426a79d04b4c"
down_revision: str | None = "8118e064cb17"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out rather than imported: a migration keeps meaning what it meant when it was written.
OPEN_STATES = ("draft", "submitted", "verifying", "awaiting_applicant", "scored", "approved")
OPEN = "status IN (" + ", ".join(f"'{state}'" for state in OPEN_STATES) + ")"


def upgrade() -> None:
    application = sa.table("talent_application", sa.column("applicant_id", sa.Uuid()), sa.column("status", sa.String()))
    doubled = (
        sa.select(application.c.applicant_id)
        .where(application.c.status.in_(OPEN_STATES))
        .group_by(application.c.applicant_id)
        .having(sa.func.count() > 1)
    )
    applicants = [str(applicant) for applicant in op.get_bind().execute(doubled).scalars()]
    if applicants:
        raise RuntimeError(
            "These applicants have more than one open talent application; withdraw all but one of each, then "
            f"migrate again: {', '.join(applicants)}"
        )
    with op.batch_alter_table("talent_application", schema=None) as batch_op:
        batch_op.create_index(
            "uq_talent_application_open",
            ["applicant_id"],
            unique=True,
            postgresql_where=sa.text(OPEN),
            sqlite_where=sa.text(OPEN),
        )


def downgrade() -> None:
    with op.batch_alter_table("talent_application", schema=None) as batch_op:
        batch_op.drop_index("uq_talent_application_open")
