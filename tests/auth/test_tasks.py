"""The authorization server's housekeeping: codes, refresh tokens, sessions, revocation entries and assertion jtis
past their use go; everything a check can still need stays (a replayed code, a reused refresh token)."""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update

from auth import tasks
from auth.models import (
    Account,
    AuthorizationCode,
    ClientAssertionJti,
    LoginSession,
    RefreshToken,
    TokenRevocation,
)
from core.db import Database
from core.models import utcnow
from tests.oauth import WEB, authorize, exchange

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


async def _someone(db: Database) -> uuid.UUID:
    async with db.transaction(write=False) as session:
        return (await session.execute(select(Account.id).where(Account.kind == "citizen").limit(1))).scalar_one()


def _code(name: str, account_id: uuid.UUID, expires_at: datetime, family_id: uuid.UUID | None) -> AuthorizationCode:
    return AuthorizationCode(
        code_hash=name,
        client_id="demo-web",
        account_id=account_id,
        redirect_uri=WEB["redirect_uri"],
        scope="openid",
        code_challenge="x" * 43,
        code_challenge_method="S256",
        auth_time=expires_at - timedelta(seconds=60),
        created_at=expires_at - timedelta(seconds=60),
        expires_at=expires_at,
        used_at=expires_at - timedelta(seconds=30) if family_id else None,
        family_id=family_id,
    )


def _refresh(name: str, account_id: uuid.UUID, family_id: uuid.UUID, family_ends: datetime, **state) -> RefreshToken:
    return RefreshToken(
        token_hash=name,
        family_id=family_id,
        client_id="demo-web",
        account_id=account_id,
        scope="openid",
        auth_time=family_ends - timedelta(days=30),
        issued_at=family_ends - timedelta(days=29),
        expires_at=min(family_ends, utcnow() - HOUR),  # every one of these is past its own idle expiry
        family_expires_at=family_ends,
        **state,
    )


async def _left(db: Database, column) -> set:
    async with db.transaction(write=False) as session:
        return set((await session.execute(select(column))).scalars())


async def test_rows_past_their_use_go_and_those_a_check_still_needs_stay(app, db: Database) -> None:
    now = utcnow()
    someone = await _someone(db)
    alive, ended, just_ended, keyless = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with db.transaction() as session:
        session.add_all(
            [
                # A family alive for weeks yet, its tokens rotated and revoked: a reuse must still be recognised.
                _refresh("alive-rotated", someone, alive, now + 20 * DAY, rotated_at=now - 2 * DAY),
                _refresh("alive-revoked", someone, alive, now + 20 * DAY, revoked_at=now - 2 * DAY),
                # A family that ended two days ago: every row is refused as expired before reuse is looked at.
                _refresh("ended-1", someone, ended, now - 2 * DAY, rotated_at=now - 3 * DAY),
                _refresh("ended-2", someone, ended, now - 2 * DAY),
                # A family that ended an hour ago: its last access token may live a little longer.
                _refresh("just-ended", someone, just_ended, now - HOUR),
            ]
        )
        session.add_all(
            [
                _code("never-exchanged", someone, now - 2 * DAY, None),
                _code("expired-an-hour-ago", someone, now - HOUR, None),
                _code("of-a-live-family", someone, now - 10 * DAY, alive),  # a replay must revoke `alive`
                _code("of-an-ended-family", someone, now - 28 * DAY, ended),
                _code("of-a-family-just-ended", someone, now - 29 * DAY, just_ended),
                _code("started-no-refresh-token", someone, now - 2 * DAY, keyless),  # a client without the grant
            ]
        )
        for name, expires_at, ended_at in (
            ("long-over", now - 8 * DAY, None),
            ("signed-out-long-ago", now - 8 * DAY, now - 9 * DAY),
            ("over-yesterday", now - DAY, None),
            ("signed-out-yesterday", now + HOUR, now - DAY),
            ("live", now + HOUR, None),
        ):
            session.add(
                LoginSession(
                    secret_hash=name,
                    account_id=someone,
                    auth_time=expires_at - 12 * HOUR,
                    expires_at=expires_at,
                    ended_at=ended_at,
                )
            )
        for value, expires_at in (("spent", now - timedelta(seconds=1)), ("live", now + timedelta(minutes=10))):
            session.add(TokenRevocation(kind="jti", value=value, revoked_at=now - HOUR, expires_at=expires_at))
        for jti, expires_at in (
            ("spent", now - HOUR),
            ("just-spent", now - timedelta(minutes=1)),
            ("live", now + HOUR),
        ):
            session.add(ClientAssertionJti(client_id="jwt-partner", jti=jti, expires_at=expires_at))

    await tasks.expire_auth_rows(app.state)

    assert await _left(db, RefreshToken.token_hash) == {"alive-rotated", "alive-revoked", "just-ended"}
    assert await _left(db, AuthorizationCode.code_hash) == {
        "expired-an-hour-ago",
        "of-a-live-family",
        "of-a-family-just-ended",
    }
    assert await _left(db, LoginSession.secret_hash) == {"over-yesterday", "signed-out-yesterday", "live"}
    assert await _left(db, TokenRevocation.value) == {"live"}
    assert await _left(db, ClientAssertionJti.jti) == {"just-spent", "live"}

    # A later run takes what has since served its time, and nothing else.
    async with db.transaction() as session:
        await session.execute(
            update(RefreshToken).where(RefreshToken.family_id == just_ended).values(family_expires_at=now - 2 * DAY)
        )
    await tasks.expire_auth_rows(app.state)
    assert await _left(db, RefreshToken.token_hash) == {"alive-rotated", "alive-revoked"}
    assert await _left(db, AuthorizationCode.code_hash) == {"expired-an-hour-ago", "of-a-live-family"}


async def test_a_code_kept_past_its_day_still_revokes_what_its_first_exchange_started(app, client, db) -> None:
    """RFC 6749 4.1.2: a replayed code revokes the tokens of its first exchange, however long after, while they live."""
    code = await authorize(client, login="13800000001", scope="openid", **WEB)
    first = await exchange(client, code, client_id="demo-web")
    assert first.status_code == 200, first.text
    long_ago = utcnow() - 10 * DAY  # the code's minute, ten days back; its refresh family still has weeks to go
    async with db.transaction() as session:
        await session.execute(update(AuthorizationCode).values(expires_at=long_ago, created_at=long_ago))

    await tasks.expire_auth_rows(app.state)

    replayed = await exchange(client, code, client_id="demo-web")
    assert replayed.json()["error"] == "invalid_grant"
    refreshed = await client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "client_id": "demo-web", "refresh_token": first.json()["refresh_token"]},
    )
    assert refreshed.json()["error"] == "invalid_grant"  # the family the first exchange started is revoked


def test_retention_outlasts_what_the_settings_allow() -> None:
    """The margins are fixed; the lifetimes they must cover are bounded by the settings' own limits."""
    from core.settings import Settings

    fields = Settings.model_fields
    longest_access = next(m.le for m in fields["access_token_ttl"].metadata if hasattr(m, "le"))
    longest_code = next(m.le for m in fields["authorization_code_ttl"].metadata if hasattr(m, "le"))
    assert timedelta(seconds=longest_access) < tasks.REFRESH_TOKEN_MARGIN
    assert timedelta(seconds=longest_code + longest_access) < tasks.CODE_RETENTION


def test_the_worker_runs_it_hourly() -> None:
    import services.tasks  # noqa: F401  (what the worker imports to register its jobs)
    from core.worker import REGISTRY

    assert REGISTRY.jobs["auth.expire"] == (3600, tasks.expire_auth_rows)
