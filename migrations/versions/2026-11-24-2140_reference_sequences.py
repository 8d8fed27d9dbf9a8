"""Reference sequences: on PostgreSQL, reference numbers come from a sequence per prefix instead of a counter row

A counter row locked until commit made every application wait for the one before it to commit; `nextval` does not.
SQLite keeps the counter row (its single writer serialises anyway). Written by hand: autogenerate does not see
sequences.

Revision ID: 5d0c1e7a9b21
Revises: 236c29dbb68a
Create Date: 2026-11-24 21:40:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5d0c1e7a9b21"
down_revision: str | None = "236c29dbb68a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEQUENCES = ("reference_ti_p_seq", "reference_ti_t_seq")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in SEQUENCES:
        op.execute(f"CREATE SEQUENCE IF NOT EXISTS {name}")
    # Numbers already handed out by the counter rows stay taken.
    op.execute(
        "SELECT setval('reference_ti_p_seq', GREATEST(1, (SELECT COALESCE(MAX(last), 0) FROM reference_counter "
        "WHERE prefix = 'TI-P')), (SELECT COALESCE(MAX(last), 0) > 0 FROM reference_counter WHERE prefix = 'TI-P'))"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in SEQUENCES:
        op.execute(f"DROP SEQUENCE IF EXISTS {name}")
