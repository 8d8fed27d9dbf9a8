"""The talent schemes (services/talent/data/rule_sets.json): Talent Island's own, and COMPASS-like and
work-permit-like ones showing the engine expresses other schemes. Reference data: seeded in every environment, each
as version 1, active, and only if no version of its code exists (an administrator's later versions are kept)."""

import json
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from core import audit
from core.context import Actor
from core.models import utcnow
from core.settings import Settings
from services.talent import repository
from services.talent.engine import compile_rule_set
from services.talent.models import TalentRuleSet
from services.talent.rules import RuleSetDocument
from services.talent.service import RULE_SET_ACTIVATED

DATA = Path(__file__).with_name("data") / "rule_sets.json"
SEED = Actor(subject=None, client_id="seed")


def load() -> list[RuleSetDocument]:
    """The seeded documents, parsed and checked (a broken seed fails here, not in the first assessment)."""
    documents = [RuleSetDocument.model_validate(item) for item in json.loads(DATA.read_text("utf-8"))["rule_sets"]]
    for document in documents:
        compile_rule_set(document, version=1)
    return documents


async def seed_rule_sets(*, session: AsyncSession, settings: Settings) -> None:
    for document in load():
        if await repository.latest_version(session, document.code) is not None:
            continue
        now = utcnow()
        row = TalentRuleSet(
            code=document.code,
            version=1,
            status="active",
            name_zh=document.name.zh,
            name_en=document.name.en,
            document=document.stored(),
            created_by=SEED.client_id,
            activated_at=now,
        )
        session.add(row)
        await session.flush()
        audit.record(
            session,
            action=RULE_SET_ACTIVATED.name,
            object_type="talent_rule_set",
            object_id=row.id,
            detail={"code": row.code, "version": 1, "seed": "reference"},
            actor=SEED,
        )
