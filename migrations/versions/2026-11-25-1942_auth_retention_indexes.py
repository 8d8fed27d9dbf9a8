"""Indexes for the authorization server's retention job (auth/tasks.py, `auth.expire`)

The hourly job deletes refresh tokens a day past their family's absolute end (`family_expires_at`) and login
sessions a week past their `expires_at`, a batch at a time; each batch finds its rows through these indexes
instead of reading the whole table. The codes, revocation entries and assertion jtis it also purges are found
through the `expires_at` indexes they already have. Reviewed by hand: two plain indexes, nothing to migrate.

Revision ID: 82822bbe6410
Revises: c7a02acc59e4
Create Date: 2026-11-25 19:42:02+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "82822bbe6410"
down_revision: str | None = "c7a02acc59e4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("login_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_session_expires_at"), ["expires_at"], unique=False)

    with op.batch_alter_table("refresh_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refresh_token_family_expires_at"), ["family_expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("refresh_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refresh_token_family_expires_at"))

    with op.batch_alter_table("login_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_session_expires_at"))
