"""Scheduled jobs: what the authorization server keeps to check codes, tokens, sessions and assertions is kept as long
as a check can still need it, and no longer.

Each rule below is bounded by what the settings allow: an authorization code lives at most 60 s, an access token at
most an hour (`TI_ACCESS_TOKEN_TTL` <= 3600), a refresh family until its `family_expires_at` (its start plus
`TI_REFRESH_TOKEN_ABSOLUTE_TTL`, stored on every row, so a later change of the setting cannot shorten what is kept).
"""

from datetime import timedelta
from typing import Any

from sqlalchemy import and_, exists

from auth.models import AuthorizationCode, ClientAssertionJti, LoginSession, RefreshToken, TokenRevocation
from core.db import delete_in_batches
from core.models import utcnow
from core.worker import REGISTRY

# A refresh token is kept a day past its family's absolute end. Until that end a rotated one presented again must
# be recognised (it revokes the family); after it, every row of the family is refused as expired before reuse is
# even looked at, and the family's last access token has expired an hour later at most. The day covers that hour
# and the clocks of the processes.
REFRESH_TOKEN_MARGIN = timedelta(days=1)
# A code is kept a day past its 60 s, and after that for as long as the refresh family its exchange started has a
# row (see REFRESH_TOKEN_MARGIN): a replayed code revokes that family, so it must be recognised while the family's
# tokens can live. A code never exchanged, or whose exchange started no refresh token (a client without the refresh
# grant: its one access token lives an hour at most), goes after the day.
CODE_RETENTION = timedelta(days=1)
# A sign-in ends at `ended_at` (signed out, or its account cut off) or at `expires_at` (12 hours by default); its row
# is kept a week past the latter (so a session ended early, up to `TI_LOGIN_SESSION_TTL` longer), for the questions
# of the days after (when did this sign-in start, from which address). The audit log keeps every sign-in and
# sign-out for good.
LOGIN_SESSION_RETENTION = timedelta(days=7)
# An assertion past its `exp` is refused whatever the jti; a few minutes more cover the clocks of the processes.
ASSERTION_JTI_MARGIN = timedelta(minutes=5)

_code = AuthorizationCode.__table__
_refresh = RefreshToken.__table__


@REGISTRY.every(3600, name="auth.expire")
async def expire_auth_rows(state: Any) -> None:
    """Refresh tokens, codes, login sessions, revocation entries and assertion jtis past their use."""
    now = utcnow()
    database = state.db
    await delete_in_batches(
        database, _refresh, RefreshToken.family_expires_at < now - REFRESH_TOKEN_MARGIN
    )  # first, so the codes of the families gone go in the same run
    family_has_a_row = exists().where(_refresh.c.family_id == _code.c.family_id)
    await delete_in_batches(database, _code, and_(_code.c.expires_at < now - CODE_RETENTION, ~family_has_a_row))
    await delete_in_batches(database, LoginSession.__table__, LoginSession.expires_at < now - LOGIN_SESSION_RETENTION)
    # Every entry expires once the tokens it stops have (its access-token lifetime plus the clock-skew leeway); the
    # list every process reloads each second reads only live ones, and the table keeps no more than those.
    await delete_in_batches(database, TokenRevocation.__table__, TokenRevocation.expires_at < now)
    await delete_in_batches(
        database, ClientAssertionJti.__table__, ClientAssertionJti.expires_at < now - ASSERTION_JTI_MARGIN
    )
