"""People-facing reference numbers: `TI-P-2026-000123`, gap-free per prefix and year.

A counter row per (prefix, year) is incremented with one UPDATE ... RETURNING inside the caller's transaction: the row
lock serialises concurrent applicants only for the rest of that transaction, and a rolled-back request gives its number
back, so numbers stay dense (an auditor asks where number 124 went).
"""

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import utcnow


class ReferenceCounter(SQLModel, table=True):
    __tablename__ = "reference_counter"

    prefix: str = Field(primary_key=True, max_length=20)
    year: int = Field(primary_key=True)
    last: int = 0


_counter = ReferenceCounter.__table__


async def next_reference(session: AsyncSession, prefix: str) -> str:
    """The next number for `prefix` this year, e.g. next_reference(session, "TI-P") -> "TI-P-2026-000123"."""
    year = utcnow().year
    bump = (
        update(_counter)
        .where(_counter.c.prefix == prefix, _counter.c.year == year)
        .values(last=_counter.c.last + 1)
        .returning(_counter.c.last)
    )
    number = (await session.execute(bump)).scalar()
    if number is None:  # the first number of the year: create the row (another request may race us to it)
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        create = dialect.insert(_counter).values(prefix=prefix, year=year, last=0).on_conflict_do_nothing()
        await session.execute(create)
        number = (await session.execute(bump)).scalar_one()
    return f"{prefix}-{year}-{number:06d}"
