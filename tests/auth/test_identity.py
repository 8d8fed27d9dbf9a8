"""The identity layer keeping in step with the database: keys and the revocation list are reloaded once, however
many requests find them stale at the same moment, and a key another process has just made is found."""

import asyncio
import base64
import json
import threading
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, select

from auth.identity import Identity
from auth.keys import ALGORITHMS, KeyRing
from auth.models import SigningKey
from auth.tokens import unverified_header
from core.crypto import FieldCipher
from core.db import sync_url
from core.migrate import upgrade
from tests.databases import BACKENDS, fresh_database
from tests.helpers import assert_problem
from tests.oauth import bearer, token_for


async def test_requests_that_find_the_revocation_list_stale_share_one_reload(app: FastAPI) -> None:
    identity = app.state.identity
    await identity.ready()
    reloads = 0
    reload = identity.revocations.refresh

    async def slow_reload(session) -> None:
        nonlocal reloads
        reloads += 1
        await asyncio.sleep(0.05)  # a slow database: the other requests arrive while it runs
        await reload(session)

    identity.revocations.refresh = slow_reload
    identity.revocations._loaded_at = float("-inf")  # a second old (and more)
    await asyncio.gather(*(identity.ready() for _ in range(20)))
    assert reloads == 1
    assert not identity.revocations.stale()
    await identity.ready()  # fresh: nothing reloaded
    assert reloads == 1


@pytest.fixture
def key_loads(app: FastAPI) -> Iterator[list[int]]:
    """How many times the app's key ring is loaded from the database during the test (in a one-item list)."""
    keyring = app.state.identity.keyring
    load, loads = keyring.load, [0]

    def counting_load(connection) -> None:
        loads[0] += 1
        load(connection)

    keyring.load = counting_load
    yield loads
    del keyring.load  # the class's own again


async def test_requests_that_find_the_keys_stale_share_one_reload(app: FastAPI, key_loads: list[int]) -> None:
    identity = app.state.identity
    await identity.ready()
    key_loads[0] = 0
    identity.keyring.forget()
    await asyncio.gather(*(identity.ready() for _ in range(20)))
    assert key_loads == [1]
    assert not identity.keyring.stale()


async def _signed_with_a_new_key_of_another_process(app: FastAPI) -> tuple[str, str]:
    """Another process rotates the access key and signs a token with the new one, which this process has not
    loaded: as when two processes start on a fresh database, or one rotates first. The token and the new kid."""
    await app.state.identity.ready()
    other_process = Identity(app.state.settings, app.state.db)
    await other_process.ready()
    async with app.state.db.transaction() as session:
        connection = await session.connection()
        new_kid = await connection.run_sync(lambda sync: other_process.keyring.rotate(sync, "access"))
    await other_process.ready()
    token = await token_for(app, "officer.market", "openid profile", identity=other_process)  # the officer console's
    assert unverified_header(token)["kid"] == new_kid
    assert app.state.identity.keyring.verification_key(new_kid, "access") is None  # not loaded here yet
    return token, new_kid


async def test_a_token_signed_with_a_key_another_process_just_made_is_accepted(app: FastAPI, client) -> None:
    token, new_kid = await _signed_with_a_new_key_of_another_process(app)
    # A burst, as a client sends: the first request reloads the keys, the others arrive while it does and wait.
    answers = await asyncio.gather(*(client.get("/api/v1/me", headers=bearer(token)) for _ in range(8)))
    assert [answer.status_code for answer in answers] == [200] * 8, answers[-1].text
    assert app.state.identity.keyring.verification_key(new_kid, "access") is not None


async def test_introspection_knows_a_key_another_process_just_made(app: FastAPI, client) -> None:
    token, _ = await _signed_with_a_new_key_of_another_process(app)
    answer = await client.post(
        "/oauth2/introspect", data={"token": token}, auth=("officer-console", "officer-console-secret")
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["active"] is True, answer.json()


async def test_unknown_kids_reload_the_keys_at_most_every_few_seconds(app: FastAPI, client, key_loads) -> None:
    real = await token_for(app, "13800000001", "openid profile", client_id="demo-web")
    key_loads[0] = 0
    for n in range(5):  # made-up kids: each is refused, and only the first one reloads the keys
        refused = await client.get("/api/v1/me", headers=bearer(forge_kid(real, f"made-up-{n}")))
        body = assert_problem(refused, 401)
        assert "unknown signing key" in body["detail"]
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert key_loads == [1]
    assert (await client.get("/api/v1/me", headers=bearer(real))).status_code == 200


def forge_kid(token: str, kid: str) -> str:
    """The token with another kid in its header (its signature no longer matches, which is never reached)."""
    changed = {**unverified_header(token), "kid": kid}
    header = base64.urlsafe_b64encode(json.dumps(changed).encode()).rstrip(b"=").decode()
    return f"{header}.{token.split('.', 1)[1]}"


@pytest.mark.parametrize("kind", [name for name in BACKENDS if name == "postgresql"])
def test_processes_starting_together_on_an_empty_key_table_make_one_set(kind: str, tmp_path) -> None:
    """The second process waits for the first one's keys instead of making its own set (each would otherwise sign
    tokens the other does not know until it reloads). PostgreSQL only: SQLite is the one-process embedded default."""
    cipher = FieldCipher.from_file(tmp_path / "data.key", create=True)
    first_ring, second_ring = (KeyRing(cipher, rotation_days=90, token_lifetime=900) for _ in range(2))
    with fresh_database(kind, tmp_path) as url:
        upgrade(url)
        engine = create_engine(sync_url(url))
        try:

            def second_process() -> None:
                with engine.begin() as connection:
                    second_ring.load(connection)

            with engine.connect() as connection, connection.begin():
                first_ring.load(connection)  # makes a set; not committed yet
                second = threading.Thread(target=second_process)
                second.start()
                second.join(timeout=1.0)
                assert second.is_alive()  # waiting for the first process's keys
            second.join(timeout=10.0)
            assert not second.is_alive()
            with engine.connect() as connection:
                kids = set(connection.execute(select(SigningKey.kid)).scalars())
        finally:
            engine.dispose()
    assert len(kids) == len(ALGORITHMS)
    assert {second_ring.signing_key(purpose).kid for purpose in ALGORITHMS} == kids
    assert {first_ring.signing_key(purpose).kid for purpose in ALGORITHMS} == kids
