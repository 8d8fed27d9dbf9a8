"""Demo applications (demo mode only), so `make run` shows officers a live queue: a handful of applications by the
demo talent citizen in different states, with their history, deadlines and an open request for information.

Written as rows, not through the lifecycle: the demo needs states that took days to reach (a deadline at risk).
Nothing is added when the demo citizen already has applications, so seeding twice changes nothing.
"""

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from auth.seed import demo_account_id
from core.crypto import FieldCipher
from core.models import utcnow
from core.references import next_reference
from core.settings import Settings
from services.calendar import service as calendar_service
from services.catalogue import service as catalogue_service
from services.permits import fees
from services.permits.models import InformationRequest, PermitApplication, PermitHistory
from services.permits.service import REFERENCE_PREFIX, store_form

APPLICANT = "13800000003"
BUSINESS = {
    "proposed_name": "江门人才岛青橙科技有限公司",
    "entity_type": "llc",
    "registered_capital": 500,
    "business_scope": "软件开发；信息技术咨询服务。",
    "premises_address": "江门市蓬江区人才岛创新大道 8 号 3 层",
    "premises_type": "leased",
    "legal_rep_name": "王芳",
    "legal_rep_id_type": "resident_id",
    "legal_rep_id_number": "440703199001010023",
    "planned_employees": 12,
    "bundled_services": ["company_seal", "tax_invoice"],
}
ADVERTISING = {
    "applicant_name": "江门人才岛青橙科技有限公司",
    "uscc": "91440703MA5XXXXX1A",
    "facility_type": "wall",
    "location": "人才岛创新大道 8 号外墙",
    "width_m": 6,
    "height_m": 2,
    "lighting": "internal",
    "start_date": "2027-01-01",
    "duration_months": 12,
    "content_summary": "企业名称与标志。",
}
# (service, form, status, days since submission, assigned to the market officer)
DEMO = [
    ("business-licence", BUSINESS, "draft", None, False),
    ("business-licence", BUSINESS, "screening", 1, False),
    ("business-licence", BUSINESS, "under_review", 3, True),
    ("business-licence", BUSINESS, "awaiting_applicant", 2, True),
    ("business-licence", BUSINESS, "pending_payment", 2, True),
    ("outdoor-advertising", ADVERTISING, "screening", 6, False),
]
PATH = {
    "screening": ["submit", "screen"],
    "under_review": ["submit", "screen", "claim"],
    "awaiting_applicant": ["submit", "screen", "claim", "request_info"],
    "pending_payment": ["submit", "screen", "claim", "pass"],
}


async def seed_demo_applications(*, session: AsyncSession, settings: Settings) -> None:
    applicant = await demo_account_id(session=session, settings=settings, login=APPLICANT)
    officer = await demo_account_id(session=session, settings=settings, login="officer.market")
    if applicant is None or officer is None:
        return
    existing = select(func.count()).where(PermitApplication.applicant_id == applicant)
    if (await session.execute(existing)).scalar_one():
        return
    cipher = FieldCipher.from_file(settings.data_key_file, create=not settings.is_production)
    now = utcnow()
    for code, form, status, days, assigned in DEMO:
        service = await catalogue_service.published_version(session=session, code=code)
        lines = fees.fee_lines(service.content.get("costs", []), form, fees.ApplicantProfile())
        row = PermitApplication(
            reference=await next_reference(session, REFERENCE_PREFIX),
            service_id=service.id,
            service_code=service.code,
            service_version=service.version,
            department=service.department,
            applicant_id=applicant,
            holder_name=form.get("proposed_name") or form.get("applicant_name") or "",
            holder_public=True,  # both demo holders are businesses named by the form
            status=status,
            fees=lines,
            fee_total=fees.total(lines),
            assignee_id=officer if assigned else None,
        )
        store_form(cipher, row, form, service.content)  # the legal representative's ID number sealed
        if days is not None:
            submitted = now - timedelta(days=days)
            row.submitted_at = submitted
            await calendar_service.start_clock(
                session=session, row=row, now=submitted, processing_time=service.content.get("processing_time")
            )
        session.add(row)
        await session.flush()
        _history(session, row, PATH.get(status, []), applicant=str(applicant), officer=str(officer))
        if status == "awaiting_applicant":
            row.paused_at = now - timedelta(days=1)
            session.add(
                InformationRequest(
                    application_id=row.id,
                    question="请补充租赁合同的完整扫描件（含出租方签章页）。",
                    documents=["premises_proof"],
                    requested_by=str(officer),
                    requested_at=now - timedelta(days=1),
                    due_at=now + timedelta(days=9),
                )
            )


def _history(session: AsyncSession, row: PermitApplication, steps: list[str], **who: str) -> None:
    status = "draft"
    session.add(
        PermitHistory(
            application_id=row.id,
            action="create",
            from_status="new",
            to_status="draft",
            actor_role="applicant",
            actor_subject=who["applicant"],
        )
    )
    targets: dict[str, Any] = {
        "submit": ("submitted", "applicant"),
        "screen": ("screening", "system"),
        "claim": ("under_review", "officer"),
        "request_info": ("awaiting_applicant", "officer"),
        "pass": ("pending_payment", "officer"),
    }
    for step in steps:
        target, role = targets[step]
        subject = who.get(role) if role != "system" else None
        session.add(
            PermitHistory(
                application_id=row.id,
                action=step,
                from_status=status,
                to_status=target,
                actor_role=role,
                actor_subject=subject,
                occurred_at=row.submitted_at or utcnow(),
            )
        )
        status = target
