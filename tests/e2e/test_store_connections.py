"""The call-control store's kept-open PostgreSQL connections
(``store.Connections``): at most N, a request waits its turn (bounded), a
broken connection is replaced, no wake-up is lost to a cancelled request."""
import asyncio
import contextlib
import os

import psycopg
import pytest

from trytond.modules.telecom_switch.api.store import Connections

from .test_callcontrol import PG_URI, pg_available

if not pg_available():
    if os.environ.get('CI') == 'true':
        raise RuntimeError('PostgreSQL is required under CI=true')
    pytest.skip('PostgreSQL does not answer', allow_module_level=True)

URI = PG_URI.rstrip('/') + '/postgres'


def run(scenario):
    asyncio.run(asyncio.wait_for(scenario(), 30))


@contextlib.asynccontextmanager
async def connections(max_size, timeout=5):
    pool = Connections(URI, 1, max_size, timeout=timeout)
    await pool.open()
    try:
        yield pool
    finally:
        await pool.close()


async def backend_pid(item):
    await item[1].execute('SELECT pg_backend_pid()')
    (pid,), = await item[1].fetchall()
    return pid


def test_at_most_max_size_then_wait_for_a_release():
    async def scenario():
        async with connections(2) as pool:
            first, second = await pool.acquire(), await pool.acquire()
            assert pool.size == 2
            third = asyncio.ensure_future(pool.acquire())
            await asyncio.sleep(0.1)
            assert not third.done(), 'a third connection was opened'
            pool.release(first)
            assert await third is first
            assert await backend_pid(first) != await backend_pid(second)
            pool.release(first)
            pool.release(second)
            assert pool.size == 2 and len(pool.idle) == 2
    run(scenario)


def test_waiting_is_bounded_with_a_clear_error():
    async def scenario():
        async with connections(1, timeout=0.3) as pool:
            held = await pool.acquire()
            with pytest.raises(TimeoutError,
                    match='no database connection free within 0.3 s'):
                await pool.acquire()
            assert not pool.waiters
            pool.release(held)
    run(scenario)


def test_broken_connection_is_dropped_and_replaced():
    async def scenario():
        killer = await psycopg.AsyncConnection.connect(URI, autocommit=True)
        async with killer, connections(1) as pool:
            item = await pool.acquire()
            pid = await backend_pid(item)
            pool.release(item)
            # PostgreSQL ends that backend (a restart, an administrator)
            await killer.execute('SELECT pg_terminate_backend(%s)', (pid,))
            item = await pool.acquire()
            with pytest.raises(psycopg.OperationalError):
                await item[1].execute('SELECT 1')
            pool.release(item)
            assert pool.size == 0 and not pool.idle
            # the next request opens a new connection that works
            item = await pool.acquire()
            assert await backend_pid(item) != pid
            pool.release(item)
            assert pool.size == 1
    run(scenario)


def test_a_cancelled_request_does_not_lose_the_wake_up():
    async def scenario():
        async with connections(1) as pool:
            held = await pool.acquire()
            leaving = asyncio.ensure_future(pool.acquire())
            staying = asyncio.ensure_future(pool.acquire())
            await asyncio.sleep(0.05)
            leaving.cancel()
            pool.release(held)
            assert await asyncio.wait_for(staying, 2) is held
            assert leaving.cancelled()
            pool.release(held)
    run(scenario)
