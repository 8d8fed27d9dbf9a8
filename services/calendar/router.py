"""The working-day calendar: public to read, published by administrators."""

from typing import Annotated

from fastapi import APIRouter, Path, Response

from auth.guards import Admin
from core.db import SessionDep
from core.errors import problems
from core.http import ApiRoute, IfMatch, set_etag
from core.http.language import Language, localize
from services.calendar import service
from services.calendar.models import CalendarDay, CalendarYear
from services.calendar.schemas import CalendarDayRead, CalendarYearIn, CalendarYearRead

router = APIRouter(prefix="/api/v1/calendar", tags=["calendar"], route_class=ApiRoute)

Year = Annotated[int, Path(ge=2000, le=2100, description="e.g. 2026")]


@router.get("/{year}", response_model=CalendarYearRead, responses=problems(404, 422))
async def get_year(year: Year, session: SessionDep, response: Response, language: Language) -> CalendarYearRead:
    """A published year: its public holidays and the weekend days worked in their place. Every other day is as
    Monday to Friday has it. Deadlines in working days are counted on it."""
    row, days = await service.get_year(session=session, year=year)
    return localize(_view(row, days, response), language)


@router.put(
    "/{year}",
    response_model=CalendarYearRead,
    responses={**problems(401, 403, 412, 422, 428), 201: {"model": CalendarYearRead, "description": "Published"}},
)
async def publish_year(
    year: Year,
    data: CalendarYearIn,
    _: Admin,
    session: SessionDep,
    response: Response,
    language: Language,
    if_match: IfMatch = None,
) -> CalendarYearRead:
    """Publish a year as the State Council's notice has it (201), or correct a published one (send If-Match). The
    deadlines of applications under way are counted again on it, in the background."""
    row, days = await service.publish_year(session=session, year=year, data=data, if_match=if_match)
    if row.version == 1:
        response.status_code = 201
    return localize(_view(row, days, response), language)


def _view(row: CalendarYear, days: list[CalendarDay], response: Response) -> CalendarYearRead:
    set_etag(response, row.version)
    return CalendarYearRead(
        year=row.year,
        version=row.version,
        source=row.source,
        updated_at=row.updated_at,
        days=[
            CalendarDayRead(
                date=day.day,
                working=day.working,
                weekday=day.day.isoweekday(),
                name={"zh-CN": day.name_zh, "en": day.name_en},
            )
            for day in days
        ],
    )
