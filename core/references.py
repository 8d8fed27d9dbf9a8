"""People-facing reference numbers: `TI-P-2026-000123`, unique and increasing per prefix.

On PostgreSQL the number comes from a sequence per prefix (created by the migrations): `nextval` takes no lock that
lasts to the end of the transaction, so concurrent applicants never queue behind each other. The price is that a
request that fails after taking its number leaves a gap; references are identifiers, not a count of applications
(the register and the statistics count rows). On SQLite a counter row per prefix is bumped in the request's
transaction, which already holds the single write lock, so it costs nothing more there.
"""

from sqlalchemy import text, update
from sqlalchemy.dialects import sqlite
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import utcnow

# Prefix -> its PostgreSQL sequence (a new prefix needs a migration creating the sequence).
SEQUENCES = {"TI-P": "reference_ti_p_seq", "TI-T": "reference_ti_t_seq"}


class ReferenceCounter(SQLModel, table=True):
    """SQLite's counters (PostgreSQL uses SEQUENCES); `year` is kept for the table's key, numbers do not restart."""

    __tablename__ = "reference_counter"

    prefix: str = Field(primary_key=True, max_length=20)
    year: int = Field(primary_key=True)
    last: int = 0


_counter = ReferenceCounter.__table__


async def next_reference(session: AsyncSession, prefix: str) -> str:
    """The next reference for `prefix`, e.g. next_reference(session, "TI-P") -> "TI-P-2026-000123"."""
    if session.get_bind().dialect.name == "postgresql":
        number = (await session.execute(text(f"SELECT nextval('{SEQUENCES[prefix]}')"))).scalar_one()
    else:
        bump = (
            update(_counter)
            .where(_counter.c.prefix == prefix, _counter.c.year == 0)
            .values(last=_counter.c.last + 1)
            .returning(_counter.c.last)
        )
        number = (await session.execute(bump)).scalar()
        if number is None:  # the prefix's first number
            await session.execute(
                sqlite.insert(_counter).values(prefix=prefix, year=0, last=0).on_conflict_do_nothing()
            )
            number = (await session.execute(bump)).scalar_one()
    return f"{prefix}-{utcnow().year}-{number:06d}"
