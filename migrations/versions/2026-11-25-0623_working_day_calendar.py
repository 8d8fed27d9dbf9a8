"""The working-day calendar: each year's public holidays and the weekend days worked in their place

Deadlines in working days counted Monday to Friday only, so a deadline over the Spring Festival came out a week early,
and one over a make-up Saturday a day late. The years are published by administrators (PUT /api/v1/calendar/{year});
the seed publishes 2026. Deadlines already counted stay as they are until a year they cross is published or
corrected. Reviewed by hand.

Revision ID: 21dac57f0369
Revises: e3ef787332a0
Create Date: 2026-11-25 06:23:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "21dac57f0369"
down_revision: str | None = "e3ef787332a0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendar_year",
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_calendar_year")),
    )
    op.create_table(
        "calendar_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("working", sa.Boolean(), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["year"], ["calendar_year.year"], name=op.f("fk_calendar_day_year_calendar_year"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_calendar_day")),
    )
    op.create_index("ix_calendar_day_year", "calendar_day", ["year"])


def downgrade() -> None:
    op.drop_index("ix_calendar_day_year", table_name="calendar_day")
    op.drop_table("calendar_day")
    op.drop_table("calendar_year")
