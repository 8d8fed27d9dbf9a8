"""The Talent Island demo catalogue (services/catalogue/data/talent_island.json): departments and published services,
each added only if its code is missing."""

import json
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from core import audit
from core.context import Actor
from core.models import utcnow
from core.settings import Settings
from services.catalogue import repository
from services.catalogue.models import Department, ServiceVersion
from services.catalogue.schemas import Department as DepartmentIn
from services.catalogue.schemas import ServiceCreate
from services.catalogue.service import _columns

DATA = Path(__file__).with_name("data") / "talent_island.json"
SEED = Actor(subject=None, client_id="seed")


def load() -> tuple[list[DepartmentIn], list[ServiceCreate]]:
    data = json.loads(DATA.read_text(encoding="utf-8"))
    return (
        [DepartmentIn.model_validate(d) for d in data["departments"]],
        [ServiceCreate.model_validate(s) for s in data["services"]],
    )


async def seed_catalogue(*, session: AsyncSession, settings: Settings) -> None:
    departments, services = load()
    for item in departments:
        if await repository.department(session, item.code) is None:
            session.add(
                Department(
                    code=item.code,
                    name_zh=item.name.zh,
                    name_en=item.name.en,
                    contact=item.contact.model_dump(mode="json", by_alias=True, exclude_none=True),
                )
            )
            audit.record(
                session,
                action="catalogue.department.created",
                object_type="department",
                object_id=item.code,
                detail={"seed": "demo"},
                actor=SEED,
            )
    await session.flush()
    now = utcnow()
    for item in services:
        if await repository.latest(session, item.code) is not None:
            continue
        session.add(
            ServiceVersion(
                code=item.code, version=1, status="published", current=True, published_at=now, **_columns(item)
            )
        )
        audit.record(
            session,
            action="catalogue.service.published",
            object_type="service",
            object_id=item.code,
            detail={"version": 1, "seed": "demo"},
            actor=SEED,
        )
