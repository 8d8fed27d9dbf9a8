"""The demo people and clients of DESIGN.md ("Demo identities"): seeded only in demo mode, each only if missing.

The demo password is deliberately predictable (it is in the README); the seed sets its hash directly, bypassing the
password policy that every real password goes through.
"""

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from auth import repository
from auth.models import Account, OAuthClient
from auth.policy import hash_password
from auth.scopes import SCOPES
from core import audit
from core.crypto import FieldCipher, secret_digest
from core.settings import Settings

DEMO_PASSWORD = "TalentIsland-2026!"

# (login, name, roles, department); citizens log in with their phone number.
DEMO_PEOPLE = [
    ("13800000001", "陈明 Chen Ming", {"citizen"}, None),
    ("13800000002", "李华 Li Hua", {"citizen"}, None),
    ("13800000003", "王磊 Wang Lei", {"citizen"}, None),
    ("officer.market", "张伟 Zhang Wei", {"officer"}, "market"),
    ("officer.housing", "刘洋 Liu Yang", {"officer"}, "housing"),
    ("supervisor.market", "赵静 Zhao Jing", {"supervisor"}, "market"),
    # The talent office verifies and reviews talent registrations, and handles the talent benefits (permits).
    ("officer.talent", "孙丽 Sun Li", {"talent_officer", "officer"}, "talent"),
    ("supervisor.talent", "钱芳 Qian Fang", {"supervisor"}, "talent"),
    ("editor.market", "周强 Zhou Qiang", {"catalogue_editor"}, "market"),
    ("publisher", "吴敏 Wu Min", {"publisher"}, None),
    ("auditor", "郑洁 Zheng Jie", {"auditor"}, None),
    ("admin", "系统管理员 Administrator", {"admin"}, None),
]

PERSON_SCOPES = sorted(name for name, scope in SCOPES.items() if not scope.client_only)


def demo_clients(settings: Settings) -> list[OAuthClient]:
    return [
        OAuthClient(
            client_id="demo-web",
            name_zh="人才岛市民端（演示）",
            name_en="Talent Island web app (demo)",
            kind="public",
            token_endpoint_auth_method="none",
            redirect_uris=["http://127.0.0.1:8765/callback"],
            post_logout_redirect_uris=["http://127.0.0.1:8765/"],
            grant_types=["authorization_code", "refresh_token"],
            scopes=["openid", "profile", "phone", "account", "permits:apply", "talent:apply"],
        ),
        OAuthClient(
            client_id="officer-console",
            name_zh="政务人员工作台（演示）",
            name_en="Officer console (demo)",
            kind="confidential",
            secret_hash=secret_digest("officer-console-secret"),
            token_endpoint_auth_method="client_secret_basic",
            redirect_uris=["http://127.0.0.1:8766/callback"],
            post_logout_redirect_uris=["http://127.0.0.1:8766/"],
            grant_types=["authorization_code", "refresh_token"],
            scopes=PERSON_SCOPES,
        ),
        OAuthClient(
            client_id="demo-partner",
            name_zh="合作伙伴系统（演示）",
            name_en="Partner system (demo)",
            kind="confidential",
            secret_hash=secret_digest("demo-partner-secret"),
            token_endpoint_auth_method="client_secret_basic",
            grant_types=["client_credentials"],
            scopes=["partner:read", "partner:submit", "webhooks:manage"],
        ),
        OAuthClient(
            client_id="swagger-ui",
            name_zh="API 文档（Swagger UI）",
            name_en="API documentation (Swagger UI)",
            kind="public",
            token_endpoint_auth_method="none",
            redirect_uris=[f"{settings.issuer}/docs/oauth2-redirect"],
            grant_types=["authorization_code"],
            scopes=PERSON_SCOPES,
        ),
    ]


async def seed_demo_identities(*, session: AsyncSession, settings: Settings) -> None:
    """Add the missing demo people and clients; never change existing ones."""
    cipher = FieldCipher.from_file(settings.data_key_file, create=not settings.is_production)
    password_hash = None
    for login, name, roles, department in DEMO_PEOPLE:
        is_citizen = "citizen" in roles
        phone_hash = cipher.lookup_hash(login, context="phone") if is_citizen else None
        if await repository.account_by_login(session, username=None if is_citizen else login, phone_hash=phone_hash):
            continue
        password_hash = password_hash or hash_password(DEMO_PASSWORD)
        account = Account(
            kind="citizen" if is_citizen else "staff",
            username=None if is_citizen else login,
            phone_hash=phone_hash,
            phone_encrypted=cipher.encrypt(login, context="phone") if is_citizen else None,
            name=name,
            password_hash=password_hash,
            status="active",
            department=department,
            preferred_language="zh-CN" if is_citizen else "en",
        )
        session.add(account)
        await session.flush()
        await repository.set_roles(session, account.id, roles)
        audit.record(
            session,
            action="identity.account.created",
            object_type="account",
            object_id=account.id,
            detail={"kind": account.kind, "seed": "demo"},
        )
    for client in demo_clients(settings):
        if await repository.client(session, client.client_id) is None:
            session.add(client)
            audit.record(
                session,
                action="identity.client.registered",
                object_type="oauth_client",
                object_id=client.client_id,
                detail={"seed": "demo"},
            )
    await session.flush()
    await seed_demo_mandates(session=session, settings=settings)


# Demo citizens who have let the demo partner system file applications for them (the others have not).
DEMO_MANDATES = [("13800000002", "demo-partner"), ("13800000003", "demo-partner")]


async def seed_demo_mandates(*, session: AsyncSession, settings: Settings) -> None:
    """The demo mandates, each unless the citizen has one to that partner already (standing or withdrawn)."""
    for login, client_id in DEMO_MANDATES:
        account_id = await demo_account_id(session=session, settings=settings, login=login)
        if account_id is not None and await repository.seed_mandate(session, account_id, client_id):
            audit.record(
                session,
                action="identity.mandate.granted",
                object_type="account",
                object_id=account_id,
                detail={"client_id": client_id, "seed": "demo"},
            )


async def demo_account_id(*, session: AsyncSession, settings: Settings, login: str) -> uuid.UUID | None:
    """A demo person's account id, by the login the README lists (other demo seeders refer to them)."""
    is_citizen = login.isdigit()
    cipher = FieldCipher.from_file(settings.data_key_file, create=not settings.is_production)
    row = await repository.account_by_login(
        session,
        username=None if is_citizen else login,
        phone_hash=cipher.lookup_hash(login, context="phone") if is_citizen else None,
    )
    return row["id"] if row else None
