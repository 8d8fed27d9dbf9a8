"""The talent schemes (services/talent/data/rule_sets.json): Talent Island's own, and COMPASS-like and
work-permit-like ones showing the engine expresses other schemes. Reference data: seeded in every environment, each
as version 1, active, and only if no version of its code exists (an administrator's later versions are kept).

In demo mode also a talent application waiting for the talent office (the first demo citizen's, submitted two days
ago, its claims left to an officer because that citizen has not passed the real-name check), so `make run` shows the
talent officer a live queue. Written as rows; nothing is added when that citizen already has one."""

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from auth.seed import demo_account_id
from core import audit
from core.context import Actor
from core.crypto import FieldCipher
from core.models import utcnow
from core.references import next_reference
from core.settings import Settings
from services.calendar import service as calendar_service
from services.talent import repository
from services.talent.applications import REFERENCE_PREFIX, seal
from services.talent.engine import RuleSetError, compile_rule_set
from services.talent.models import TalentApplication, TalentClaim, TalentHistory, TalentRuleSet
from services.talent.rules import RuleSetDocument
from services.talent.service import RULE_SET_ACTIVATED, problems_of

DATA = Path(__file__).with_name("data") / "rule_sets.json"
SEED = Actor(subject=None, client_id="seed")


def load() -> list[RuleSetDocument]:
    """The seeded documents, parsed and checked (a broken seed fails here, not in the first assessment)."""
    documents = [RuleSetDocument.model_validate(item) for item in json.loads(DATA.read_text("utf-8"))["rule_sets"]]
    for document in documents:
        compile_rule_set(document, version=1)
        # Held to what an administrator's version is held to (a card-issuing scheme's tiers, none for nothing).
        if problems := problems_of(document):
            raise RuleSetError(problems)
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


DEMO_APPLICANT = "13800000001"
DEMO_CLAIMS = [
    {"kind": "birth_date", "date": "1991-08-09"},
    {"kind": "education", "level": "master", "institution": "Wuyi University", "country": "CN", "year": 2016},
    {
        "kind": "employment",
        "employer": "江门人才岛青橙科技有限公司",
        "role": "Engineering manager",
        "start": "2018-03-01",
        "country": "CN",
        "region": "jiangmen",
        "seniority": "senior",
    },
    {"kind": "salary", "year": 2025, "annual_amount": 300000},
    {"kind": "language", "language": "en", "level": "C1"},
]


async def seed_demo_talent_application(*, session: AsyncSession, settings: Settings) -> None:
    applicant = await demo_account_id(session=session, settings=settings, login=DEMO_APPLICANT)
    if applicant is None:
        return
    existing = select(func.count()).where(TalentApplication.applicant_id == applicant)
    if (await session.execute(existing)).scalar_one():
        return
    cipher = FieldCipher.from_file(settings.data_key_file, create=not settings.is_production)
    submitted = utcnow() - timedelta(days=2)
    row = TalentApplication(
        reference=await next_reference(session, REFERENCE_PREFIX),
        applicant_id=applicant,
        rule_set="talent-island",
        status="verifying",
        submitted_at=submitted,
        created_at=submitted,
    )
    await calendar_service.start_clock(session=session, row=row, now=submitted, processing_time=None)
    session.add(row)
    await session.flush()
    for claim in DEMO_CLAIMS:
        session.add(TalentClaim(application_id=row.id, kind=claim["kind"], sealed=seal(cipher, row, claim)))
    status = "new"
    steps = [("create", "draft", "applicant"), ("submit", "submitted", "applicant"), ("verify", "verifying", "system")]
    for action, target, role in steps:
        session.add(
            TalentHistory(
                application_id=row.id,
                action=action,
                from_status=status,
                to_status=target,
                actor_role=role,
                actor_subject=str(applicant) if role == "applicant" else None,
                occurred_at=submitted,
            )
        )
        status = target
