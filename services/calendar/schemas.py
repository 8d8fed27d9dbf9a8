"""API schemas of the calendar: a year as published, and as an administrator writes it."""

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.http.language import Localized
from services.catalogue.schemas import ShortText


class CalendarDayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: date
    working: bool = Field(description="false: a day off (a holiday); true: a weekend day worked in its place")
    name: ShortText = Field(description="the holiday it belongs to")


class CalendarYearIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str | None = Field(default=None, max_length=300, description="the notice it is taken from")
    days: list[CalendarDayIn] = Field(
        max_length=366, description="every day that is not as Monday-to-Friday would have it (the rest are)"
    )

    @field_validator("days")
    @classmethod
    def _each_day_once(cls, days: list[CalendarDayIn]) -> list[CalendarDayIn]:
        dates = [day.date for day in days]
        if len(set(dates)) != len(dates):
            raise ValueError("a date is listed twice")
        return days


class CalendarDayRead(BaseModel):
    date: date
    working: bool
    weekday: int = Field(description="ISO weekday, 1 (Monday) to 7 (Sunday)")
    name: Localized = Field(description="the holiday it belongs to")


class CalendarYearRead(BaseModel):
    year: int
    version: int
    source: str | None
    updated_at: datetime
    days: list[CalendarDayRead] = Field(description="in date order")
