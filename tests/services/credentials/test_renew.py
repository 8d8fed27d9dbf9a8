"""A renewal's credential replacing the one it renews (credentials_service.renew): the old one is revoked, naming the
new one, and a sanction on it passes to the new one."""

import pytest

from services.credentials import service
from services.credentials.models import Credential
from tests.services.credentials.conftest import CREDENTIALS


async def _reload(db, row: Credential) -> Credential:
    async with db.transaction(write=False) as session:
        return await session.get(Credential, row.id)


async def _renew(db, old: Credential, new: Credential) -> None:
    async with db.transaction() as session:
        await service.renew(
            session=session, row=await session.get(Credential, old.id), by=await session.get(Credential, new.id)
        )


async def test_a_renewed_credential_is_replaced_and_the_renewal_stays_in_force(db, issue) -> None:
    old, new = await issue(), await issue()
    await _renew(db, old, new)
    await _renew(db, old, new)  # a redelivered event: nothing more
    old, new = await _reload(db, old), await _reload(db, new)
    assert (old.status, old.status_reason, old.replaced_by) == ("revoked", f"replaced by {new.number}", new.number)
    assert (new.status, new.status_reason, new.replaced_by) == ("active", None, None)


@pytest.mark.parametrize(("action", "status"), [("suspend", "suspended"), ("revoke", "revoked")])
async def test_a_sanction_on_the_renewed_credential_passes_to_its_renewal(
    client, db, issue, supervisor, action, status
) -> None:
    old, new = await issue(), await issue()
    sanctioned = await client.post(
        f"{CREDENTIALS}/{old.id}/actions/{action}",
        json={"reason": "抽检不合格"},
        headers={**supervisor, "If-Match": '"1"'},
    )
    assert sanctioned.status_code == 200, sanctioned.text
    await _renew(db, old, new)
    await _renew(db, old, new)  # a redelivered event: nothing more
    old, new = await _reload(db, old), await _reload(db, new)
    assert (new.status, new.status_reason) == (status, f"抽检不合格 ({old.number}, which it renews, was {status})")
    # A suspended credential is replaced; a revoked one keeps the revocation's own reason.
    expected = (f"replaced by {new.number}", new.number) if status == "suspended" else ("抽检不合格", None)
    assert (old.status, old.status_reason, old.replaced_by) == ("revoked", *expected)


async def test_a_credential_already_replaced_passes_nothing_on(db, issue) -> None:
    """Its revocation was a replacement, not a sanction: a later credential replacing it too stays in force."""
    old, first, second = await issue(), await issue(), await issue()
    await _renew(db, old, first)
    await _renew(db, old, second)
    old, second = await _reload(db, old), await _reload(db, second)
    assert (old.status, old.replaced_by) == ("revoked", first.number)
    assert (second.status, second.status_reason) == ("active", None)
