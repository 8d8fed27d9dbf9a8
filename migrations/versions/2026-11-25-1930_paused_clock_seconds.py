"""What an application's SLA clock counts of its pauses (a schema change)

A pause (a request for information) moved the deadline on by all the time it took, weekends and holidays included:
a request answered over a weekend gave the department two more days and put a working-day deadline at 02:00 on a
Thursday. A clock of working days now moves on by the pause's time on working days; `paused_clock_seconds` keeps that
part, so counting a deadline again (a calendar change) moves it on as resuming did. `paused_seconds` stays all the
time paused (what the elapsed time and the observed processing times leave out).

Existing rows had their deadlines moved on by all of their pauses: they get `paused_clock_seconds = paused_seconds`,
so a recount gives the deadline they have. Reviewed by hand.

Revision ID: 5c1e7a9d2b40
Revises: b5f0c3d81a27
Create Date: 2026-11-25 19:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5c1e7a9d2b40"
down_revision: str | None = "b5f0c3d81a27"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("permit_application", "talent_application")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("paused_clock_seconds", sa.Integer(), nullable=False, server_default="0"))
        counted = sa.table(table, sa.column("paused_seconds"), sa.column("paused_clock_seconds"))
        op.execute(sa.update(counted).values(paused_clock_seconds=counted.c.paused_seconds))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("paused_clock_seconds")
