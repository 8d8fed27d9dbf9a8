"""A credential replaced by a renewal names it (`replaced_by`, the renewal's number); a credential names the partner
that filed its application (`filed_by_client`)

Public verification and the register then tell an inspector which credential is in force, where a bare "revoked" read
as a sanction. Rows already replaced are filled in from the reason their replacement wrote ("replaced by <number>").
A credential's events reach only the partner that filed its application (they reached every partner); existing rows
take it from their permit application or talent registration. Reviewed by hand.

Revision ID: e88884f73e8c
Revises: 1c9cc416a33e
Create Date: 2026-11-25 14:33:24+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e88884f73e8c"
down_revision: str | None = "1c9cc416a33e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# "replaced by " is 12 characters; only a number that is a credential's is taken (the foreign key would refuse another).
BACKFILL = """
UPDATE credential SET replaced_by = substr(status_reason, 13)
WHERE status = 'revoked' AND status_reason LIKE 'replaced by %'
  AND substr(status_reason, 13) IN (SELECT number FROM credential)
"""

FILED_BY_PERMIT = """
UPDATE credential SET filed_by_client = (
    SELECT submitted_by_client FROM permit_application WHERE permit_application.id = credential.subject_id
) WHERE subject_type = 'permit_application'
"""
FILED_BY_TALENT = """
UPDATE credential SET filed_by_client = (
    SELECT sponsored_by_client FROM talent_application WHERE talent_application.id = credential.subject_id
) WHERE subject_type = 'talent_application'
"""


def upgrade() -> None:
    with op.batch_alter_table("credential") as batch_op:
        batch_op.add_column(sa.Column("replaced_by", sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_credential_replaced_by_credential"), "credential", ["replaced_by"], ["number"]
        )
        batch_op.add_column(sa.Column("filed_by_client", sa.String(length=100), nullable=True))
    op.execute(BACKFILL)
    op.execute(FILED_BY_PERMIT)
    op.execute(FILED_BY_TALENT)


def downgrade() -> None:
    with op.batch_alter_table("credential") as batch_op:
        batch_op.drop_column("filed_by_client")
        batch_op.drop_constraint(batch_op.f("fk_credential_replaced_by_credential"), type_="foreignkey")
        batch_op.drop_column("replaced_by")
