"""Partners' mandates: a citizen lets a partner system file applications for them

A partner system (scope partner:submit) could file a permit or talent application for any active citizen whose
account id it knew. Now the citizen must first have given it a mandate (PUT /api/v1/me/representations/{client_id}),
and can withdraw it. No mandate is assumed for applications filed before: a partner asks its citizens for one, and
until then its filing for them is refused. Reviewed by hand.

Revision ID: e3ef787332a0
Revises: 67629d6e6b8d
Create Date: 2026-11-25 03:50:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e3ef787332a0"
down_revision: str | None = "67629d6e6b8d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "representation",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_representation_account_id_account"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_client.client_id"],
            name=op.f("fk_representation_client_id_oauth_client"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "client_id", name=op.f("pk_representation")),
    )


def downgrade() -> None:
    op.drop_table("representation")
