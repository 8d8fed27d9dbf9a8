"""The holder's side: their list, the QR code that carries the verification link, and the expiry reminder."""

import struct
import zlib
from datetime import timedelta

import segno
from sqlalchemy import select

from core.models import utcnow
from services.credentials import tasks
from services.notifications.models import Notification
from tests.helpers import assert_problem
from tests.oauth import bearer, token_for
from tests.services.credentials.conftest import CITIZEN, CREDENTIALS, VERIFY, account_id

MINE = "/api/v1/me/credentials"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_pixels(data: bytes) -> tuple[int, int, list[list[int]]]:
    """Width, height and 0/1 pixels of a 1-bit greyscale PNG (what segno writes), decoded with the standard library."""
    assert data.startswith(PNG_SIGNATURE)
    position, idat, header = 8, b"", None
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind, chunk = data[position + 4 : position + 8], data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + chunk) == crc, kind
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        position += 12 + length
    assert header is not None
    width, height, depth, colour, _compression, _filter, interlace = header
    assert (depth, colour, interlace) == (1, 0, 0), header
    raw, stride = zlib.decompress(idat), (width + 7) // 8
    rows, previous = [], bytes(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):  # the PNG filters, with one byte per "pixel" at depth 1
            left, up, corner = line[x - 1] if x else 0, previous[x], previous[x - 1] if x else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                nearest = min((abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - corner), 2, corner))
                line[x] = (line[x] + nearest[2]) & 0xFF
        previous = bytes(line)
        rows.append([(line[x // 8] >> (7 - x % 8)) & 1 for x in range(width)])
    return width, height, rows


async def test_the_qr_code_is_a_png_of_the_verification_link(client, issue, citizen, settings) -> None:
    row = await issue()
    response = await client.get(f"{CREDENTIALS}/{row.id}/qr.png", headers=citizen)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "private"
    assert response.content.startswith(PNG_SIGNATURE)

    link = f"{settings.issuer}{VERIFY}?token={row.token}"
    read = (await client.get(f"{CREDENTIALS}/{row.id}", headers=citizen)).json()
    assert read["verify_url"] == link
    assert read["qr_url"] == f"{CREDENTIALS}/{row.id}/qr.png"
    # The image, module by module, is the QR symbol of exactly that link.
    expected = segno.make(link, error="m", micro=False)
    modules = expected.symbol_size(scale=1, border=4)[0]
    width, height, pixels = _png_pixels(response.content)
    assert width == height
    assert width % modules == 0
    scale = width // modules
    dark = [
        [pixels[y * scale + scale // 2][x * scale + scale // 2] == 0 for x in range(modules)] for y in range(modules)
    ]
    assert dark == [[bool(module) for module in line] for line in expected.matrix_iter(scale=1, border=4)]
    # And the link it holds verifies.
    answer = (await client.post(VERIFY, json={"qr": link})).json()
    assert (answer["integrity"], answer["status"], answer["number"]) == ("valid", "active", row.number)


async def test_my_credentials_in_pages_newest_first(app, client, db, issue, citizen, other_citizen) -> None:
    rows = [await issue() for _ in range(3)]
    others = await issue(holder_account_id=await account_id(app, db, "13800000002"), holder_name="李华")
    seen, cursor = [], None
    while True:
        page = await client.get(MINE, headers=citizen, params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        seen += [item["number"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if not cursor:
            break
    assert seen == [row.number for row in reversed(rows)]
    assert others.number not in seen
    theirs = (await client.get(MINE, headers=other_citizen)).json()
    assert [item["number"] for item in theirs["items"]] == [others.number]
    assert theirs["next_cursor"] is None
    assert_problem(await client.get(MINE, headers=citizen, params={"cursor": "nope"}), 422)
    assert_problem(await client.get(MINE), 401)


async def test_an_app_sees_only_the_kind_of_credential_the_person_let_it_apply_for(app, client, issue) -> None:
    """The holder's own credentials show each kind to the scope it was applied for with (a permit to `permits:apply`,
    a talent card to `talent:apply`), both to the city's own apps (`account`): an app the person allowed to file a
    talent registration learns nothing of their permits, not even by id (404, as for a credential not theirs). A
    token with neither kind's scope has no list at all (403 insufficient_scope)."""
    permit = await issue()
    card = await issue(
        kind="talent_card",
        number="TI-TC-2026-000002",
        department="talent",
        title={"zh-CN": "人才卡", "en": "Talent card"},
        conditions=[],
        subject_type="talent_application",
    )
    both = [card.number, permit.number]  # newest first
    for scopes, shown in (
        ("openid permits:apply", [permit.number]),
        ("openid profile talent:apply", [card.number]),
        ("openid permits:apply talent:apply", both),
        ("openid account", both),
    ):
        headers = bearer(await token_for(app, CITIZEN, scopes))
        mine = await client.get(MINE, headers=headers)
        assert mine.status_code == 200, mine.text
        assert [item["number"] for item in mine.json()["items"]] == shown, scopes
        for row in (permit, card):
            read = await client.get(f"{CREDENTIALS}/{row.id}", headers=headers)
            qr = await client.get(f"{CREDENTIALS}/{row.id}/qr.png", headers=headers)
            if row.number in shown:
                assert (read.status_code, read.json()["number"], qr.status_code) == (200, row.number, 200), scopes
            else:
                assert_problem(read, 404, "credential-not-found")
                assert_problem(qr, 404, "credential-not-found")
                assert row.number not in read.text + qr.text
    for scopes in ("openid", "openid profile phone"):
        refused = await client.get(MINE, headers=bearer(await token_for(app, CITIZEN, scopes)))
        body = assert_problem(refused, 403, "insufficient-scope")
        assert body["detail"] == "This needs one of the scopes: account permits:apply talent:apply."
        assert 'scope="account permits:apply talent:apply"' in refused.headers["www-authenticate"]


async def test_the_expiry_reminder_reaches_the_holder_once(app, client, db, issue, holder_id, citizen, supervisor):
    soon = await issue(valid_until=utcnow() + timedelta(days=10))  # too late to renew in time: told it expires
    # Told by when to apply to renew it. It ends at 17:00 UTC, 01:00 the next day in Jiangmen: the holder is told
    # the dates of their own calendar.
    ahead = await issue(valid_until=(utcnow() + timedelta(days=45)).replace(hour=17, minute=0, second=0, microsecond=0))
    card = await issue(  # a talent card has no legal date to renew by: it is only told that it expires
        kind="talent_card",
        number="TI-TC-2026-000001",
        department="talent",
        title={"zh-CN": "人才卡", "en": "Talent card"},
        valid_until=utcnow() + timedelta(days=45),
        subject_type="talent_application",
    )
    await issue(valid_until=utcnow() + timedelta(days=90))  # not yet
    await issue(valid_from=utcnow() - timedelta(days=400), valid_until=utcnow() - timedelta(days=1))  # already over
    revoked = await issue(valid_until=utcnow() + timedelta(days=5))
    assert (
        await client.post(
            f"{CREDENTIALS}/{revoked.id}/actions/revoke",
            headers={**supervisor, "If-Match": '"1"'},
            json={"reason": "撤销"},
        )
    ).status_code == 200

    await tasks.expiry_reminders(app.state)
    await tasks.expiry_reminders(app.state)  # the next day's run, or a second worker

    async with db.transaction(write=False) as session:
        notices = list(
            (await session.execute(select(Notification).where(Notification.account_id == holder_id))).scalars()
        )
    assert sorted((n.template, n.dedupe_key) for n in notices) == [
        ("credential_expiring", f"credential-expiring:{soon.id}"),
        ("credential_expiring", f"credential-expiring:{card.id}"),
        ("credential_renewal_due", f"credential-expiring:{ahead.id}"),
    ]
    inbox = (await client.get("/api/v1/me/notifications", headers=citizen)).json()
    [renewal_due] = [item for item in inbox["items"] if item["template"] == "credential_renewal_due"]
    [notice] = [item for item in inbox["items"] if soon.number in item["body"]]
    ends_locally = (ahead.valid_until + timedelta(days=1)).date()
    renew_by = (ends_locally - timedelta(days=30)).isoformat()
    assert renewal_due["body"] == (
        f"您的食品经营许可证（编号 {ahead.number}）将于 {ends_locally.isoformat()} 到期。"
        f"如需延续，请于 {renew_by} 前提出申请。"
    )
    assert notice["language"] == "zh-CN"
    assert notice["title"] == "证照即将到期"
    assert soon.number in notice["body"]
    assert "食品经营许可证" in notice["body"]
    assert (soon.valid_until + timedelta(hours=8)).date().isoformat() in notice["body"]
