"""Seed data: reference data always, demo data (people, clients, content) only in demo mode.

Every seeder is idempotent: it looks rows up by their natural key and only adds what is missing, so running
`python main.py seed` twice changes nothing. Domains append their seeder to SEEDERS in dependency order.
"""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from auth.seed import seed_demo_identities
from core.db import Database
from core.settings import Settings
from services.calendar.seed import seed_calendar
from services.catalogue.seed import seed_catalogue
from services.permits.seed import seed_demo_applications
from services.talent.seed import seed_demo_talent_application, seed_rule_sets

logger = logging.getLogger("ti.seed")


@dataclass(frozen=True)
class Seeder:
    name: str
    run: Callable[..., Awaitable[None]]  # async def run(*, session, settings) -> None
    demo_only: bool = False


SEEDERS: list[Seeder] = [
    Seeder("working-day calendar", seed_calendar),
    Seeder("talent rule sets", seed_rule_sets),
    Seeder("demo identities", seed_demo_identities, demo_only=True),
    Seeder("demo catalogue", seed_catalogue, demo_only=True),
    Seeder("demo applications", seed_demo_applications, demo_only=True),
    Seeder("demo talent application", seed_demo_talent_application, demo_only=True),
]


async def seed(database: Database, settings: Settings) -> list[str]:
    """Run every applicable seeder in one transaction; returns the names that ran."""
    ran = []
    async with database.transaction() as session:
        for seeder in SEEDERS:
            if seeder.demo_only and not settings.demo:
                continue
            await _run(seeder, session, settings)
            ran.append(seeder.name)
    return ran


async def _run(seeder: Seeder, session: AsyncSession, settings: Settings) -> None:
    logger.info("seeding", extra={"seeder": seeder.name})
    await seeder.run(session=session, settings=settings)
    await session.flush()
