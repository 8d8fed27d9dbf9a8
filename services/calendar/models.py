"""A year of the official calendar, and its days that differ from Monday-to-Friday."""

from datetime import date

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from core.models import TimestampMixin, VersionMixin


class CalendarYear(VersionMixin, TimestampMixin, table=True):
    """A published year (the State Council announces each in the autumn before it). Its version is the ETag."""

    __tablename__ = "calendar_year"

    year: int = Field(primary_key=True)
    source: str | None = Field(default=None, max_length=300, description="the notice it was taken from")


class CalendarDay(SQLModel, table=True):
    """A day off on a weekday (a public holiday) or a working weekend day (a make-up day), or a holiday that falls
    on a weekend, kept so the year reads like the notice."""

    __tablename__ = "calendar_day"
    __table_args__ = (Index("ix_calendar_day_year", "year"),)

    day: date = Field(primary_key=True)
    year: int = Field(foreign_key="calendar_year.year", ondelete="CASCADE")
    working: bool
    name_zh: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
