"""The identity layer keeping in step with the database: keys and the revocation list are reloaded once, however
many requests find them stale at the same moment."""

import asyncio

from fastapi import FastAPI


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


async def test_requests_that_find_the_keys_stale_share_one_reload(app: FastAPI) -> None:
    identity = app.state.identity
    await identity.ready()
    loads = 0
    load = identity.keyring.load

    def counting_load(connection) -> None:
        nonlocal loads
        loads += 1
        load(connection)

    identity.keyring.load = counting_load
    identity.keyring.forget()
    await asyncio.gather(*(identity.ready() for _ in range(20)))
    assert loads == 1
    assert not identity.keyring.stale()
