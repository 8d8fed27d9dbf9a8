"""One-time codes sent by SMS: proof of the phone at sign-up, and password resets by phone

Anyone could sign up with someone else's phone number (the real holder then got "phone taken"), and a citizen who
forgot their password had no way back in. `phone_code` keeps the codes that prove a number is held: keyed hashes of
the number and of the code (never either in clear), the purpose (sign_up | reset), the account a reset code was made
for, expiry, tries and use. A new table: no existing row changes. Reviewed by hand.

Revision ID: 41154a52d1e1
Revises: e3b9d4c7a215
Create Date: 2026-11-25 20:40:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "41154a52d1e1"
down_revision: str | None = "e3b9d4c7a215"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "phone_code",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("phone_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_phone_code_account_id_account"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_code")),
    )
    with op.batch_alter_table("phone_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_phone_code_expires_at"), ["expires_at"], unique=False)
        # The newest code of a number and purpose, found at every try.
        batch_op.create_index("ix_phone_code_phone_hash_purpose", ["phone_hash", "purpose", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("phone_code", schema=None) as batch_op:
        batch_op.drop_index("ix_phone_code_phone_hash_purpose")
        batch_op.drop_index(batch_op.f("ix_phone_code_expires_at"))

    op.drop_table("phone_code")
